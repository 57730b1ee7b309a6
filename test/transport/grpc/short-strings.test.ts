// The reader's table of short strings: whatever was read before, and however
// many distinct strings share its slots, a field always reads as its own bytes.
import t from 'tap';
import { SHORT_STRING_MAX_BYTES, shortAsciiString } from '../../../src/transport/grpc/short-strings.js';

const read = (text: string): string | undefined => {
  // Inside a larger buffer, as a field is inside its message.
  const buf = Buffer.from(`<<${text}>>`, 'latin1');
  return shortAsciiString(buf, 2, 2 + text.length);
};

t.test('the text of the bytes, first time and every time after', async (t) => {
  t.equal(read(''), '');
  for (let i = 0; i < 3; i++) {
    t.equal(read('authorization'), 'authorization');
    t.equal(read('GET'), 'GET');
    t.equal(read('x'.repeat(SHORT_STRING_MAX_BYTES)), 'x'.repeat(SHORT_STRING_MAX_BYTES));
  }
});

t.test('more distinct strings than slots, same lengths, read back in another order', async (t) => {
  const texts = Array.from({ length: 5000 }, (_, i) => `h-${(i * 7919).toString(36).padStart(6, '0')}`);
  for (const s of texts) if (read(s) !== s) t.fail(`first read of ${s}`);
  let wrong = 0;
  for (let i = texts.length - 1; i >= 0; i -= 3) if (read(texts[i]!) !== texts[i]) wrong++;
  // Strings differing in one byte, alternating in one place.
  for (let i = 0; i < 100; i++) {
    if (read('user-agent-a') !== 'user-agent-a') wrong++;
    if (read('user-agent-b') !== 'user-agent-b') wrong++;
  }
  t.equal(wrong, 0, 'every read is its own text');
});

t.test('a byte outside ASCII: not answered here (the caller decodes and checks UTF-8)', async (t) => {
  t.equal(shortAsciiString(Buffer.from('zoë', 'utf8'), 0, Buffer.byteLength('zoë')), undefined);
  t.equal(shortAsciiString(Buffer.from([0x61, 0xff, 0x62]), 0, 3), undefined);
  t.equal(read('zo'), 'zo', 'and the table is unharmed');
});
