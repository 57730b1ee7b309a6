// The header map every transport builds: names lower-cased, repeats joined,
// and nothing inherited — a name no header had is undefined, whatever it is.
import t from 'tap';
import { collectHeaders } from '../../src/request/header-list.js';

t.test('repeats are joined; cookie with "; "; set-cookie keeps its first; the list keeps every occurrence', async (t) => {
  const { headers, headerList, bytes } = collectHeaders([
    'Accept', 'a', 'accept', 'b', 'Cookie', 'x=1', 'cookie', 'y=2', 'set-cookie', 'p=1, q', 'set-cookie', 'r=2',
  ]);
  t.same({ ...headers }, { accept: 'a,b', cookie: 'x=1; y=2', 'set-cookie': 'p=1, q' });
  t.same(headerList, [['accept', 'a'], ['accept', 'b'], ['cookie', 'x=1'], ['cookie', 'y=2'], ['set-cookie', 'p=1, q'], ['set-cookie', 'r=2']]);
  t.equal(bytes, 'acceptaacceptbcookiex=1cookiey=2set-cookiep=1, qset-cookier=2'.length);
});

t.test('no inherited names: Object.prototype members are not headers, and prototype names are plain headers', async (t) => {
  const { headers } = collectHeaders(['x-a', '1']);
  for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__', '__defineGetter__']) {
    t.equal(headers[name], undefined, `${name} is not a header here`);
    t.notOk(name in headers, `${name} is not in the map`);
  }
  t.same(Object.keys(headers), ['x-a']);
  t.same(JSON.parse(JSON.stringify(headers)), { 'x-a': '1' });

  const sent = collectHeaders(['__proto__', 'p', 'constructor', 'c']).headers;
  t.equal(sent.__proto__, 'p');
  t.equal(sent.constructor, 'c');
  t.same(Object.keys(sent), ['__proto__', 'constructor']);
  t.equal(collectHeaders(['x-b', '2']).headers.__proto__, undefined, 'one request\'s headers never show in another\'s');
});

t.test('many distinct names (as a hostile client sends) still read back exactly', async (t) => {
  const flat: string[] = [];
  for (let i = 0; i < 1000; i++) flat.push(`x-h-${i}`, `v${i}`);
  const { headers } = collectHeaders(flat);
  let wrong = 0;
  for (let i = 0; i < 1000; i++) if (headers[`x-h-${i}`] !== `v${i}`) wrong++;
  t.equal(wrong, 0);
  t.equal(Object.keys(headers).length, 1000);
});
