// Turns a route's `stages:` entries into bound Stage instances. Each capability
// (tenant, rbac, rebac, policy, budget) registers one factory; an unknown name
// or bad options is a config error naming the route and the stage.
import type { Stage } from './types.js';

export interface StageFactoryContext {
  /** The route's name, for error messages and metrics. */
  readonly route: string;
  readonly resourceType: string;
  readonly action: string;
}

export interface StageFactory {
  readonly name: string;
  /** Validate options and return a stage bound to them; throw an Error with a clear message otherwise. */
  create(options: unknown, ctx: StageFactoryContext): Stage;
}

export class StageRegistry {
  private readonly factories = new Map<string, StageFactory>();

  register(factory: StageFactory): this {
    this.factories.set(factory.name, factory);
    return this;
  }

  names(): string[] {
    return [...this.factories.keys()];
  }

  build(entry: string | Record<string, unknown>, ctx: StageFactoryContext): Stage {
    const [name, options] = typeof entry === 'string' ? [entry, undefined] : (Object.entries(entry)[0] ?? ['', undefined]);
    const factory = this.factories.get(name);
    if (factory === undefined) {
      throw new Error(
        `route ${ctx.route}: unknown stage "${name}" (known: ${this.names().join(', ') || 'none'})`,
      );
    }
    try {
      return factory.create(options, ctx);
    } catch (err) {
      throw new Error(`route ${ctx.route}: stage ${name}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  }
}
