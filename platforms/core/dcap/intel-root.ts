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

/**
 * Intel's quoting enclaves, checked offline (full QE Identity collateral adds
 * the TCB level): MRSIGNER of Intel's signing key, ISVPRODID 1 = SGX QE,
 * 2 = TDX QE. A QE report from any other enclave means the attestation key is
 * not vouched for by Intel.
 */
export const INTEL_QE_MRSIGNER = '8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff';
export const INTEL_TDQE_MRSIGNER = 'dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5';
export const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';
