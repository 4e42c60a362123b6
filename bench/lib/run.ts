/**
 * Runs a benchmark's main with its cleanup on every way out: normal end, failure, SIGINT/SIGTERM,
 * and a last resort at process exit (for children started but not yet handed back). Only pids the
 * benchmark itself started are ever killed; `pids` names them.
 */
export async function runBench(main: () => Promise<void>, stopAll: () => Promise<void>, pids: () => number[]): Promise<void> {
  process.on('exit', () => {
    for (const pid of pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => void stopAll().finally(() => process.exit(code)));
  }
  try {
    await main();
  } catch (e) {
    console.error(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  } finally {
    await stopAll();
  }
}
