/** `--fail-on "<metric> <op> <number>"`: rules on deltas (B minus A) that fail a diff. */
import { UsageError } from '../core/errors.js';

export interface Rule {
  text: string;
  metric: string;
  op: '<' | '<=' | '>' | '>=' | '==' | '!=';
  value: number;
}

const RULE = /^\s*([A-Za-z_][\w.-]*)\s*(<=|>=|==|!=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*$/i;

export function parseRule(text: string, metrics: readonly string[]): Rule {
  const m = RULE.exec(text);
  if (!m) {
    throw new UsageError(`--fail-on ${JSON.stringify(text)} is not a rule: write "<metric> <op> <number>", e.g. "test.accuracy < -0.01" (ops: < <= > >= == !=)`);
  }
  if (!metrics.includes(m[1])) {
    throw new UsageError(`--fail-on ${JSON.stringify(text)}: unknown metric ${JSON.stringify(m[1])}; known: ${metrics.join(', ')}`);
  }
  return { text: text.trim(), metric: m[1], op: m[2] as Rule['op'], value: Number(m[3]) };
}

/** True when the rule holds for this delta, i.e. the diff fails. */
export function ruleHolds(rule: Rule, delta: number): boolean {
  switch (rule.op) {
    case '<':
      return delta < rule.value;
    case '<=':
      return delta <= rule.value;
    case '>':
      return delta > rule.value;
    case '>=':
      return delta >= rule.value;
    case '==':
      return delta === rule.value;
    case '!=':
      return delta !== rule.value;
  }
}
