import { spawn } from 'node:child_process';

/** One redis-benchmark workload: what to pass it and which CSV row carries the result. */
export interface LoadCase {
  /** Name in the report, and the CSV row name redis-benchmark prints for it. */
  test: string;
  pipeline: number;
  /** `-t <test>` for built-in tests, or a custom command line (sent as an array). */
  command: string[];
}

export interface LoadResult {
  rps: number;
  /** Distinct stderr lines, e.g. "Error from server: ..." (redis-benchmark prints at most one a second). */
  warnings: string[];
}

const RUN_TIMEOUT_MS = 10 * 60_000;

/** Runs redis-benchmark once against 127.0.0.1:port and returns the rps of the case's CSV row. */
export async function redisBenchmark(port: number, load: LoadCase, requests: number, clients: number): Promise<LoadResult> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-c', String(clients), '-n', String(requests), '-P', String(load.pipeline), '--csv', ...load.command];
  const { stdout, stderr } = await runToEnd('redis-benchmark', args);
  const rps = csvRps(stdout).get(load.test);
  if (rps === undefined) throw new Error(`redis-benchmark printed no ${load.test} row:\n${stdout}${stderr}`);
  return { rps, warnings: distinctLines(stderr) };
}

function runToEnd(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A server that stops answering would otherwise hang the whole bench.
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal}):\n${stdout}${stderr}`));
    });
  });
}

/** Maps test name -> rps from `--csv` output, locating the rps column by its header. */
export function csvRps(csv: string): Map<string, number> {
  const rows = csv.split('\n').filter((l) => l.startsWith('"')).map(csvFields);
  const rpsAt = rows[0]?.indexOf('rps') ?? -1;
  const out = new Map<string, number>();
  if (rpsAt < 0) return out;
  for (const row of rows.slice(1)) {
    const rps = Number(row[rpsAt]);
    if (row[0] !== undefined && Number.isFinite(rps)) out.set(row[0], rps);
  }
  return out;
}

/** redis-benchmark quotes every field and never embeds quotes, so a field is simply "...". */
function csvFields(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
}

function distinctLines(text: string): string[] {
  return [...new Set(text.split(/[\r\n]+/).map((l) => l.trim()).filter(Boolean))];
}
