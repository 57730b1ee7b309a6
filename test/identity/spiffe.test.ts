// Workload identity from the mTLS peer's SPIFFE id or from XFCC.
import t from 'tap';
import type { Peer } from '../../src/decision/types.js';
import { parseSpiffeId } from '../../src/identity/spiffe-id.js';
import { nearestClientUris, parseXfcc } from '../../src/identity/xfcc.js';
import { authzRequest } from '../support/principals.js';
import { makeService, reasonOf, withHeaders } from './fixture.js';

const peer = (principal: string | undefined): Peer => ({ address: '10.0.0.9', port: 5000, principal, labels: {} });
const fromPeer = (principal: string | undefined) => authzRequest({ source: peer(principal) });
const XFCC = 'x-forwarded-client-cert';

t.test('a SPIFFE peer becomes a workload principal; tenant from /ns/<ns>/', async (t) => {
  const { identify } = makeService(t, { spiffe: { trust_domains: ['cluster.local'] } });
  const result = await identify(fromPeer('spiffe://cluster.local/ns/payments/sa/api'));
  t.match(result, {
    kind: 'principal',
    principal: {
      id: 'spiffe://cluster.local/ns/payments/sa/api', kind: 'workload', tenant: 'payments', roles: ['workload'], source: 'spiffe',
      claims: { spiffe_id: 'spiffe://cluster.local/ns/payments/sa/api', trust_domain: 'cluster.local', path: '/ns/payments/sa/api' },
    },
  });
  t.match(await identify(fromPeer('spiffe://cluster.local/workloads/batch')), { kind: 'principal', principal: { tenant: undefined } },
    'no /ns/ segment, no tenant');
  t.equal(reasonOf(await identify(fromPeer(undefined))), 'none');
});

t.test('roles and tenant mapping come from config', async (t) => {
  const { identify } = makeService(t, { spiffe: { tenant_from: 'none', roles: ['service', 'reader'] } });
  t.match(await identify(fromPeer('spiffe://example.org/ns/payments/sa/api')),
    { kind: 'principal', principal: { tenant: undefined, roles: ['service', 'reader'] } });
});

t.test('a foreign trust domain is refused; an empty trust list trusts any domain', async (t) => {
  const strict = makeService(t, { spiffe: { trust_domains: ['cluster.local', 'prod.example'] } });
  t.equal(reasonOf(await strict.identify(fromPeer('spiffe://evil.example/ns/payments/sa/api'))), 'bad_spiffe_id');
  t.match(await strict.identify(fromPeer('spiffe://prod.example/ns/a/sa/b')), { kind: 'principal' });
  const open = makeService(t, { spiffe: {} });
  t.match(await open.identify(fromPeer('spiffe://anything.example/ns/a/sa/b')), { kind: 'principal' });
});

t.test('invalid SPIFFE ids are refused as bad_spiffe_id', async (t) => {
  const { identify } = makeService(t, { spiffe: {} });
  const bad = [
    'spiffe://Cluster.local/ns/a/sa/b', // upper-case trust domain
    'SPIFFE://cluster.local/ns/a/sa/b',
    'https://cluster.local/ns/a/sa/b',
    'spiffe://cluster.local', // trust domain only: names no workload
    'spiffe://cluster.local/',
    'spiffe:///ns/a/sa/b',
    'spiffe://cluster.local/ns//sa/b',
    'spiffe://cluster.local/ns/a/sa/b/',
    'spiffe://cluster.local/ns/./sa/b',
    'spiffe://cluster.local/ns/../sa/b',
    'spiffe://cluster.local:8443/ns/a/sa/b',
    'spiffe://user@cluster.local/ns/a/sa/b',
    'spiffe://cluster.local/ns/a/sa/b?x=1',
    'spiffe://cluster.local/ns/a/sa/b#frag',
    'spiffe://cluster.local/ns/a%2Fb/sa/c',
    'spiffe://cluster.local/ns/a b/sa/c',
    `spiffe://cluster.local/${'a'.repeat(2100)}`,
    'CN=legacy-client,O=Acme',
  ];
  for (const id of bad) {
    t.equal(reasonOf(await identify(fromPeer(id))), 'bad_spiffe_id', id.slice(0, 60));
    t.notOk(parseSpiffeId(id).ok);
  }
  t.ok(parseSpiffeId('spiffe://my-td_1.example/a.b/c-d/e_f').ok, 'all allowed characters');
});

t.test('XFCC (when enabled) names the client: the last element, appended by the nearest proxy', async (t) => {
  const { identify } = makeService(t, { spiffe: { xfcc: true, trust_domains: ['cluster.local'] } });
  const one = 'By=spiffe://cluster.local/ns/edge/sa/gateway;Hash=abc123;Subject="/C=US/O=Acme, Inc.;x=y";URI=spiffe://cluster.local/ns/payments/sa/api';
  t.match(await identify(withHeaders({ [XFCC]: one }, { source: peer('spiffe://cluster.local/ns/edge/sa/gateway') })),
    { kind: 'principal', principal: { id: 'spiffe://cluster.local/ns/payments/sa/api', tenant: 'payments' } },
    'XFCC wins over the peer, which is the proxy');
  const chain = 'By=spiffe://cluster.local/ns/edge/sa/gw;URI=spiffe://cluster.local/ns/outer/sa/client,'
    + 'By=spiffe://cluster.local/ns/mesh/sa/proxy;Hash=def;URI=spiffe://cluster.local/ns/orders/sa/web';
  t.match(await identify(withHeaders({ [XFCC]: chain })),
    { kind: 'principal', principal: { id: 'spiffe://cluster.local/ns/orders/sa/web' } });
  t.match(await identify(fromPeer('spiffe://cluster.local/ns/direct/sa/x')), { kind: 'principal', principal: { tenant: 'direct' } },
    'without XFCC the peer counts');
});

t.test('bad or ambiguous XFCC is refused', async (t) => {
  const { identify } = makeService(t, { spiffe: { xfcc: true, trust_domains: ['cluster.local'] } });
  const cases: Array<[string, string]> = [
    ['By=spiffe://cluster.local/ns/a/sa/b;Hash=abc', 'bad_spiffe_id'], // no URI
    ['URI=spiffe://cluster.local/ns/a/sa/b;URI=spiffe://cluster.local/ns/c/sa/d', 'bad_spiffe_id'], // two URI SANs
    ['URI=spiffe://evil.example/ns/a/sa/b', 'bad_spiffe_id'],
    ['URI=https://client.example', 'bad_spiffe_id'],
    ['Subject="unterminated;URI=spiffe://cluster.local/ns/a/sa/b', 'bad_spiffe_id'],
    ['garbage-without-equals', 'bad_spiffe_id'],
    ['URI=spiffe://cluster.local/ns/a/sa/b,By=x;Hash=y', 'bad_spiffe_id'], // the nearest element has no URI
  ];
  for (const [header, reason] of cases) {
    t.equal(reasonOf(await identify(withHeaders({ [XFCC]: header }))), reason, header.slice(0, 50));
  }
  const v = 'URI=spiffe://cluster.local/ns/a/sa/b';
  const twice = { ...withHeaders({ [XFCC]: `${v},${v}` }), headerList: [[XFCC, v], [XFCC, v]] as const };
  t.equal(reasonOf(await identify(twice)), 'ambiguous_credentials');
});

t.test('XFCC is ignored unless enabled', async (t) => {
  const { identify } = makeService(t, { spiffe: {} });
  const header = { [XFCC]: 'URI=spiffe://cluster.local/ns/forged/sa/x' };
  t.equal(reasonOf(await identify(withHeaders(header))), 'none');
  t.match(await identify(withHeaders(header, { source: peer('spiffe://cluster.local/ns/real/sa/y') })),
    { kind: 'principal', principal: { tenant: 'real' } });
});

t.test('the XFCC parser follows Envoy quoting rules', async (t) => {
  t.same(parseXfcc('By=http://frontend.example;Hash=468e;Subject="/C=US/ST=CA/OU=Lyft/CN=Test Client";URI=http://testclient.example;DNS=a.example;DNS=b.example'), [[
    ['by', 'http://frontend.example'], ['hash', '468e'], ['subject', '/C=US/ST=CA/OU=Lyft/CN=Test Client'],
    ['uri', 'http://testclient.example'], ['dns', 'a.example'], ['dns', 'b.example'],
  ]]);
  t.same(parseXfcc('subject="a,b;c=\\"d\\"";uri=x'), [[['subject', 'a,b;c="d"'], ['uri', 'x']]], 'escaped quotes and separators');
  t.same(nearestClientUris('URI=a,URI=b'), ['b']);
  t.same(nearestClientUris('Hash=x'), []);
  t.equal(parseXfcc('a="x'), undefined);
  t.equal(parseXfcc('a=x"y'), undefined);
  t.equal(parseXfcc('=x'), undefined);
});

t.test('SPIFFE disabled ignores the peer', async (t) => {
  const { identify } = makeService(t, { spiffe: { enabled: false } });
  t.equal(reasonOf(await identify(fromPeer('spiffe://cluster.local/ns/a/sa/b'))), 'none');
});
