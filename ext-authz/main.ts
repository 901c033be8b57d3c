// ext-authz process wiring: config file -> logger -> servers; stops on signals.
import { loadConfigFile } from '../kernel/config.ts';
import { createLogger } from '../kernel/logger.ts';
import { ExtAuthzConfigSchema } from './config.ts';
import { startExtAuthz } from './server.ts';

export async function runExtAuthz(configPath: string): Promise<void> {
  const cfg = loadConfigFile(ExtAuthzConfigSchema, configPath);
  const log = createLogger('ext-authz', { level: cfg.logLevel });
  const h = await startExtAuthz(cfg, { logger: log });
  process.stdout.write(`${JSON.stringify({ grpcPort: h.grpcPort, httpPort: h.httpPort })}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await h.close();
}
