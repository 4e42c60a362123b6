import { ConfigError, loadConfig, usage } from './config.js';
import { startNode } from './node.js';
import { JsonLogger } from './runtime/logger.js';
import { HECK_VERSION } from './version.js';

/** Process entry: settings -> node; SIGTERM/SIGINT -> graceful stop and exit 0. */
async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig(process.argv.slice(2), process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`heck-server: ${e.message}\n`);
    process.exit(1);
  }
  if (loaded.help) {
    process.stdout.write(usage());
    return;
  }
  if (loaded.version) {
    process.stdout.write(`heck-server ${HECK_VERSION}\n`);
    return;
  }
  const { config } = loaded;
  const logger = new JsonLogger(config.logLevel, (line) => process.stdout.write(line), Date.now, { pid: process.pid });

  // Signals are handled from the start, so one arriving while the node starts still stops it cleanly.
  const starting = startNode(config, { logger, configFile: loaded.configFile, onStopped: () => process.exit(0) });
  const onSignal = (signal: string) => {
    logger.info('shutdown_requested', { by: signal });
    void starting.then((node) => node.stop()).then(() => process.exit(0));
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  try {
    await starting;
  } catch (e) {
    logger.error('start_failed', { error: (e as Error).message });
    process.stderr.write(`heck-server: ${(e as Error).message}\n`);
    process.exit(1);
  }
}

void main();
