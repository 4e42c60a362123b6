// A node:test reporter that prints nothing until the run ends, then one block per failed test
// (todo and skipped tests excluded). CI keeps only the tail of a long TAP stream, so the failures
// must be repeated there to be seen at all.
interface FailEvent {
  type: string;
  data: {
    name: string;
    file?: string;
    line?: number;
    todo?: unknown;
    skip?: unknown;
    details?: { error?: { cause?: unknown; message?: string } };
  };
}

export default async function* failuresReporter(source: AsyncIterable<FailEvent>): AsyncGenerator<string> {
  const failures: string[] = [];
  for await (const event of source) {
    if (event.type !== 'test:fail' || event.data.todo !== undefined || event.data.skip !== undefined) continue;
    const { name, file, line, details } = event.data;
    const error = details?.error;
    const cause = error?.cause instanceof Error ? error.cause.message : String(error?.cause ?? error?.message ?? '');
    failures.push(`- ${name}\n  at ${file ?? '?'}:${line ?? '?'}\n  ${cause.split('\n').slice(0, 6).join('\n  ')}`);
  }
  if (failures.length === 0) return;
  yield `\n# ${failures.length} failed (suites count when a test inside them failed):\n${failures.join('\n')}\n`;
}
