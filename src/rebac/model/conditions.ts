// Conditions: CEL expressions over declared, typed parameters, compiled once
// per model and evaluated synchronously against tuple context + request context.
import { BlockList, isIP } from 'node:net';
import { CelScalar, celEnv, celFunc, celMethod, isCelError, parse, plan } from '@bufbuild/cel';
import type { CelInput, CelResult } from '@bufbuild/cel';
import { FgaCheckError } from './errors.js';
import { ParamConversionError, convertParam } from './condition-params.js';
import type { Condition, ConditionParamTypeRef } from './types.js';

function inCidr(ip: string, cidr: string): boolean {
  const slash = cidr.indexOf('/');
  const net = slash === -1 ? cidr : cidr.slice(0, slash);
  const family = isIP(net);
  const ipFamily = isIP(ip);
  if (family === 0 || ipFamily === 0) throw new Error(`invalid CIDR or address: ${cidr} / ${ip}`);
  if (family !== ipFamily) return false;
  const prefix = slash === -1 ? (family === 4 ? 32 : 128) : Number(cidr.slice(slash + 1));
  const list = new BlockList();
  list.addSubnet(net, prefix, family === 4 ? 'ipv4' : 'ipv6');
  return list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

// ipaddress values travel as validated strings; these give CEL OpenFGA's helpers.
const ENV = celEnv({
  funcs: [
    celMethod('in_cidr', CelScalar.STRING, [CelScalar.STRING], CelScalar.BOOL, function (cidr) {
      return inCidr(this, cidr);
    }),
    celFunc('ipaddress', [CelScalar.STRING], CelScalar.STRING, (s) => {
      if (isIP(s) === 0) throw new Error(`invalid ipaddress: ${s}`);
      return s;
    }),
  ],
});

export interface CompiledCondition {
  readonly name: string;
  readonly parameters: ReadonlyMap<string, ConditionParamTypeRef>;
  /** Evaluates with the tuple's context overriding the request's; throws FgaCheckError. */
  evaluate(tupleContext: Record<string, unknown> | undefined, requestContext: Record<string, unknown> | undefined, tupleDesc: string): boolean;
}

export function compileCondition(c: Condition): CompiledCondition {
  let program: (ctx?: Record<string, CelInput>) => CelResult;
  try {
    program = plan(ENV, parse(c.expression)) as (ctx?: Record<string, CelInput>) => CelResult;
  } catch (err) {
    throw new FgaCheckError('invalid_authorization_model', `condition '${c.name}': expression does not compile: ${(err as Error).message}`);
  }
  const parameters = new Map(Object.entries(c.parameters ?? {}));
  return {
    name: c.name,
    parameters,
    evaluate(tupleContext, requestContext, tupleDesc) {
      const bindings: Record<string, CelInput> = {};
      const missing: string[] = [];
      for (const [param, ref] of parameters) {
        let v: unknown;
        if (tupleContext && Object.hasOwn(tupleContext, param)) v = tupleContext[param];
        else if (requestContext && Object.hasOwn(requestContext, param)) v = requestContext[param];
        else {
          missing.push(param);
          continue;
        }
        try {
          bindings[param] = convertParam(ref, v);
        } catch (err) {
          const why = err instanceof ParamConversionError ? err.message : String(err);
          throw new FgaCheckError('validation_error', `failed to evaluate relationship condition '${c.name}' on tuple '${tupleDesc}': parameter '${param}': ${why}`);
        }
      }
      if (missing.length > 0) {
        throw new FgaCheckError(
          'validation_error',
          `failed to evaluate relationship condition '${c.name}' on tuple '${tupleDesc}': missing context parameters [${missing.join(', ')}]`,
        );
      }
      let out: CelResult;
      try {
        out = program(bindings);
      } catch (err) {
        throw new FgaCheckError('validation_error', `failed to evaluate relationship condition '${c.name}' on tuple '${tupleDesc}': ${(err as Error).message}`);
      }
      if (isCelError(out)) {
        throw new FgaCheckError('validation_error', `failed to evaluate relationship condition '${c.name}' on tuple '${tupleDesc}': ${out.message}`);
      }
      if (typeof out !== 'boolean') {
        throw new FgaCheckError('validation_error', `relationship condition '${c.name}' did not evaluate to a bool`);
      }
      return out;
    },
  };
}
