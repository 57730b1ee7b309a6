// How many times a header arrived. Transports join repeats into one value in
// `headers`, which would let "Bearer a, Bearer b" or two tenant ids pass as
// one; identity refuses a credential that was sent twice, so it counts the raw
// list instead. `name` is lower-case, as headerList names are.
import type { AuthzRequest } from '../decision/types.js';

export function headerOccurrences(req: AuthzRequest, name: string): number {
  let n = 0;
  const list = req.headerList;
  for (let i = 0; i < list.length; i++) {
    if (list[i]![0] === name) n++;
  }
  return n;
}
