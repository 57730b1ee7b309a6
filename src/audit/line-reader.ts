// Lines of a (possibly large) file, streamed, with 1-based numbers and a flag
// for a last line that has no '\n' (a torn write or a cut file).
import { createReadStream } from 'node:fs';

export interface FileLine {
  readonly text: string;
  readonly number: number;
  readonly complete: boolean;
}

export async function* readLines(path: string): AsyncGenerator<FileLine> {
  let rest = '';
  let number = 0;
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 })) {
    const text = rest + (chunk as string);
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      yield { text: text.slice(start, nl), number: ++number, complete: true };
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  if (rest.length > 0) yield { text: rest, number: number + 1, complete: false };
}
