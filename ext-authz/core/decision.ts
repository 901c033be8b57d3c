// An authorization decision: a result, not an exception. `code` is a closed
// set so metrics and clients can rely on it; `reason` is the human sentence
// (which condition failed), safe to show: it names no key material.
export type DecisionCode =
  | 'OK'
  | 'NO_RULE'
  | 'NO_PEER_CERT'
  | 'BAD_PEER_CERT'
  | 'NOT_A_MEMBER'
  | 'CERT_EXPIRED'
  | 'GROUP_NOT_ALLOWED'
  | 'PARTY_NOT_ALLOWED'
  | 'SHARED_NOT_ALLOWED'
  | 'REVOKED'
  | 'JWT_MISSING'
  | 'JWT_INVALID';

export interface Identity {
  groupId?: string;
  partyId?: string;
  platform?: string;
  jwtSub?: string;
}

export interface Decision {
  allow: boolean;
  code: DecisionCode;
  reason: string;
  rule?: string;
  identity?: Identity;
  /** HTTP status of a deny: 401 for missing/invalid credentials of the JWT kind, else 403. */
  httpStatus: number;
}

export function allow(rule: string, identity: Identity): Decision {
  return { allow: true, code: 'OK', reason: 'allowed', rule, identity, httpStatus: 200 };
}

export function deny(code: Exclude<DecisionCode, 'OK'>, reason: string, rule?: string): Decision {
  const httpStatus = code === 'JWT_MISSING' || code === 'JWT_INVALID' ? 401 : 403;
  return { allow: false, code, reason, httpStatus, ...(rule ? { rule } : {}) };
}
