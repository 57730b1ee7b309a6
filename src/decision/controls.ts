// Compliance controls a decision enforces (`SOC2:CC6.1`, `ISO27001:A.5.15`,
// `EU-AI-Act:Art.14`, `HIPAA:164.312(b)`): named by a route's `controls:` and
// by a policy's decision object, carried into the audit event, the database
// row and Kafka. They are short identifiers — FRAMEWORK:CONTROL — validated
// where they enter, so an event never carries free text from a policy.
import { z } from 'zod';

export const MAX_CONTROLS = 16;
const CONTROL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}:[A-Za-z0-9][A-Za-z0-9._()-]{0,47}$/;

export const NO_CONTROLS: readonly string[] = Object.freeze([]);

export function isControl(value: unknown): value is string {
  return typeof value === 'string' && CONTROL.test(value);
}

export const controlSchema = z.string().regex(CONTROL, 'a control is FRAMEWORK:CONTROL, e.g. SOC2:CC6.1 (letters, digits, . _ - and () in the control)');
export const controlsSchema = z.array(controlSchema).max(MAX_CONTROLS).default([]);

/** The controls of `a` then those of `b` not already named, in order. */
export function mergeControls(a: readonly string[], b: readonly string[] | undefined): readonly string[] {
  if (b === undefined || b.length === 0) return a;
  if (a.length === 0) return b;
  const out = [...a];
  for (const c of b) if (!out.includes(c)) out.push(c);
  return out;
}
