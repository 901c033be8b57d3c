// @peculiar/x509 set up once: it needs the reflect-metadata polyfill loaded
// before it and a WebCrypto provider. Import x509 from here, never directly.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
