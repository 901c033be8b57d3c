// The pinned Intel SGX Root CA (anchor of SGX and TDX PCK chains), by SHA-256 of
// its DER. The quote's type-5 chain carries the root certificate itself; it is
// accepted only when its fingerprint equals this pin (or a deployment-configured
// root, VerifierOptions.intelRootCaPems, which replaces the pin).
// CN=Intel SGX Root CA, O=Intel Corporation, valid 2018-05-21 .. 2049-12-31.
export const INTEL_SGX_ROOT_CA_SHA256 = '44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3';

export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';
export const SGX_TCB_OID = '1.2.840.113741.1.13.1.2';
export const SGX_PCESVN_OID = '1.2.840.113741.1.13.1.2.17';
export const SGX_FMSPC_OID = '1.2.840.113741.1.13.1.4';
