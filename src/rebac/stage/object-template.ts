// An object written in a route's config, `type:id`, whose id may name route
// parameters as `:param` — compiled once at route build, filled per request.
import { StageFailure } from '../../decision/stage-failure.js';
import type { DecisionContext } from '../../decision/types.js';
import { REBAC_BAD_REQUEST } from '../reasons.js';

type Part = { readonly literal: string } | { readonly param: string };

const PARAM = /:([A-Za-z_][A-Za-z0-9_]*)/g;

export class ObjectTemplate {
  private constructor(
    private readonly type: string,
    private readonly parts: readonly Part[],
    /** Set when the id names no parameter. */
    private readonly fixed: string | undefined,
  ) {}

  static parse(text: string): ObjectTemplate {
    const colon = text.indexOf(':');
    const type = text.slice(0, colon);
    const idText = text.slice(colon + 1);
    const parts: Part[] = [];
    let last = 0;
    for (const m of idText.matchAll(PARAM)) {
      if (m.index > last) parts.push({ literal: idText.slice(last, m.index) });
      parts.push({ param: m[1]! });
      last = m.index + m[0].length;
    }
    if (last < idText.length) parts.push({ literal: idText.slice(last) });
    const hasParam = parts.some((p) => 'param' in p);
    return new ObjectTemplate(type, parts, hasParam ? undefined : `${type}:${idText}`);
  }

  /** The params this template reads (for config checks and docs). */
  get params(): string[] {
    return this.parts.flatMap((p) => ('param' in p ? [p.param] : []));
  }

  render(ctx: DecisionContext): string {
    if (this.fixed !== undefined) return this.fixed;
    let id = '';
    for (const p of this.parts) {
      if ('literal' in p) {
        id += p.literal;
        continue;
      }
      const v = ctx.routeParams[p.param];
      if (v === undefined || v === '') {
        throw new StageFailure(REBAC_BAD_REQUEST, 403, `route parameter :${p.param} is not set (object ${this.type}:...)`);
      }
      id += v;
    }
    return `${this.type}:${id}`;
  }
}
