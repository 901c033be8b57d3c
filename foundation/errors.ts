// The base error of every component. Each component declares its own closed set
// of codes in its errors.ts and maps each code to one canonical kind; the kind
// decides the HTTP and gRPC status (one table, here). `cause` is for logs only:
// it is never sent to a client. Pure: no transport library is loaded here
// (the gRPC status numbers are those of the gRPC spec, which grpc-js's
// `status` enum carries too; test/foundation/errors-config.test.ts checks they agree).

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

export type ErrorKind =
  | 'invalid_argument'
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'payload_too_large'
  | 'resource_exhausted'
  | 'aborted'
  | 'unavailable'
  | 'deadline_exceeded'
  | 'internal';

/** kind -> [HTTP status, gRPC status]. */
export const STATUS_TABLE: Readonly<Record<ErrorKind, readonly [number, GrpcStatus]>> = {
  invalid_argument: [400, GrpcStatus.INVALID_ARGUMENT],
  unauthenticated: [401, GrpcStatus.UNAUTHENTICATED],
  permission_denied: [403, GrpcStatus.PERMISSION_DENIED],
  not_found: [404, GrpcStatus.NOT_FOUND],
  already_exists: [409, GrpcStatus.ALREADY_EXISTS],
  failed_precondition: [412, GrpcStatus.FAILED_PRECONDITION],
  payload_too_large: [413, GrpcStatus.RESOURCE_EXHAUSTED],
  resource_exhausted: [429, GrpcStatus.RESOURCE_EXHAUSTED],
  aborted: [409, GrpcStatus.ABORTED],
  unavailable: [503, GrpcStatus.UNAVAILABLE],
  deadline_exceeded: [504, GrpcStatus.DEADLINE_EXCEEDED],
  internal: [500, GrpcStatus.INTERNAL],
};

export interface ErrorOptions {
  cause?: unknown;
  /** Safe, client-visible structured details (never secrets). */
  details?: Record<string, unknown>;
}

export abstract class AppError<C extends string = string> extends Error {
  abstract readonly component: string;
  readonly code: C;
  readonly kind: ErrorKind;
  readonly details?: Record<string, unknown>;

  constructor(code: C, kind: ErrorKind, message: string, opts: ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.kind = kind;
    this.details = opts.details;
    this.name = new.target.name;
  }

  get httpStatus(): number {
    return STATUS_TABLE[this.kind][0];
  }

  get grpcStatus(): GrpcStatus {
    return STATUS_TABLE[this.kind][1];
  }

  /** What a client sees: code, message and safe details; never the cause. */
  toJSON(): { code: C; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

/**
 * Builds a component's error class from its closed code table, so every
 * component declares `code -> kind` once and gets a typed class:
 *   export const ExtProcError = defineErrors('ext-proc', { MALFORMED_JWE: 'invalid_argument' });
 */
export function defineErrors<T extends Record<string, ErrorKind>>(component: string, table: T) {
  type Code = Extract<keyof T, string>;
  return class ComponentError extends AppError<Code> {
    readonly component = component;
    static readonly codes = table;
    constructor(code: Code, message: string, opts?: ErrorOptions) {
      super(code, table[code], message, opts);
    }
    static is(e: unknown, code?: Code): e is ComponentError {
      return e instanceof ComponentError && (code === undefined || e.code === code);
    }
  };
}

/** Converts anything thrown into an AppError view for transports. */
export function toPublicError(e: unknown): { httpStatus: number; grpcStatus: GrpcStatus; body: { code: string; message: string; details?: Record<string, unknown> } } {
  if (e instanceof AppError) return { httpStatus: e.httpStatus, grpcStatus: e.grpcStatus, body: e.toJSON() };
  return { httpStatus: 500, grpcStatus: GrpcStatus.INTERNAL, body: { code: 'INTERNAL', message: 'internal error' } };
}
