// The capsule manager server process: the one place that wires config file,
// logger and servers, and stops cleanly on SIGINT/SIGTERM.
import { loadConfigFile } from '../kernel/config.ts';
import { createLogger } from '../kernel/logger.ts';
import { CapsuleManagerConfigSchema } from './config.ts';
import { startCapsuleManager } from './start.ts';

export async function runCapsuleManager(configPath: string): Promise<number> {
  const cfg = loadConfigFile(CapsuleManagerConfigSchema, configPath);
  const log = createLogger('capsule-manager', { level: cfg.logLevel });
  const cm = await startCapsuleManager(cfg, { logger: log });
  process.stdout.write(`${JSON.stringify({ grpcPort: cm.grpcPort, httpPort: cm.httpPort, partyId: cm.partyId, simPublicKeyPem: cm.simPublicKeyPem })}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await cm.close();
  return 0;
}
