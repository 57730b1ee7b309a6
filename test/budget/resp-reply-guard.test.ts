// The reply guard on its own: well-formed RESP2 passes however the socket
// splits it; oversized, RESP3 and broken streams are refused once.
import t from 'tap';
import { RespReplyGuard } from '../../src/budget/resp-reply-guard.js';

const VALID = [
  '+OK\r\n',
  '-ERR wrong\r\n',
  ':-42\r\n',
  '$5\r\nab\r\nc\r\n', // CRLF inside a bulk payload
  '$0\r\n\r\n',
  '$-1\r\n',
  '*-1\r\n',
  '*0\r\n',
  '*3\r\n:1\r\n*2\r\n$1\r\nx\r\n*1\r\n:2\r\n-ERR inner\r\n', // nested arrays, an error inside
  '*2\r\n$1\r\n0\r\n*2\r\n$3\r\nk:1\r\n$3\r\nk:2\r\n', // a SCAN reply
].join('');

function feedSplit(text: string, every: number, max = 1 << 20): string[] {
  const refused: string[] = [];
  const guard = new RespReplyGuard(max, (_kind, why) => refused.push(why));
  const bytes = Buffer.from(text, 'latin1');
  for (let i = 0; i < bytes.length; i += every) guard.feed(bytes.subarray(i, i + every));
  return refused;
}

t.test('well-formed RESP2 passes, split at every size', async (t) => {
  for (let every = 1; every <= 17; every++) t.same(feedSplit(VALID, every), [], `chunks of ${every}`);
  t.same(feedSplit(VALID, VALID.length), [], 'one chunk');
});

t.test('refused: RESP3 types, oversize (announced or not), bad framing, deep nesting', async (t) => {
  const cases: Array<[string, string, RegExp, number?]> = [
    ['*2\r\n:1\r\n_\r\n', 'a RESP3 null in an array', /RESP3 type '_'/],
    ['%1\r\n:1\r\n:2\r\n', 'a RESP3 map', /RESP3 type '%'/],
    ['#t\r\n', 'a RESP3 boolean', /RESP3 type '#'/],
    [',1.5\r\n', 'a RESP3 double', /RESP3 type ','/],
    ['(123\r\n', 'a RESP3 big number', /RESP3 type '\('/],
    ['>2\r\n+a\r\n+b\r\n', 'a RESP3 push', /RESP3 type '>'/],
    ['$1073741824\r\n', 'a 1 GiB bulk string announced', /a bulk string of 1073741824 bytes announced/],
    ['*50000000\r\n', 'a 50 M-element array announced', /an array of 50000000 elements announced/],
    [`+${'a'.repeat(5000)}`, 'a simple string past the limit', /a reply over 4096 bytes/, 4096],
    ['$3\r\nabcd\r\n', 'a bulk string longer than announced', /longer than announced/],
    [':12a\r\n', 'an integer with a letter', /not a number/],
    [':1\rX', 'CR without LF', /CR without LF/],
    ['$-2\r\n', 'a negative length', /negative length/],
    [`:${'9'.repeat(40)}\r\n`, 'an endless integer', /too long/],
    [`${'*1\r\n'.repeat(9)}:1\r\n`, 'arrays nested 9 deep', /nested deeper than 8/],
    ['hello\r\n', 'not RESP at all', /not a RESP type/],
  ];
  for (const [text, what, why, max] of cases) {
    const refused = feedSplit(text, 3, max);
    t.equal(refused.length, 1, `${what}: refused once`);
    t.match(refused[0], why, what);
  }
});

t.test('the limit is per reply: many small replies in a row pass', async (t) => {
  t.same(feedSplit(':1\r\n'.repeat(5000), 64, 4096), [], '20,000 bytes of 4-byte replies under a 4 KiB limit');
});
