// Colour scales of the seat heatmap. Fixed steps rather than relative ones, so a colour means
// the same on every event and every refresh; the palettes stay readable to colour-blind eyes.
import type { MessageKey } from '../i18n';

export type HeatMode = 'holds' | 'speed';

interface Step {
  colour: string;
  /** The legend's words for the step. */
  label: MessageKey;
  vars?: Record<string, number>;
}

/** Seats the mode says nothing about (never held; not sold). */
export const QUIET = '#e2e8f0';

/** By how often a seat was held (yellow → dark red), upper bounds inclusive. */
const HOLD_STEPS: { upTo: number; step: Step }[] = [
  { upTo: 1, step: { colour: '#fecc5c', label: 'admin.heat.holds.one' } },
  { upTo: 2, step: { colour: '#fd8d3c', label: 'admin.heat.holds.n', vars: { n: 2 } } },
  { upTo: 4, step: { colour: '#f03b20', label: 'admin.heat.holds.range', vars: { from: 3, to: 4 } } },
  { upTo: 9, step: { colour: '#bd0026', label: 'admin.heat.holds.range', vars: { from: 5, to: 9 } } },
  { upTo: Infinity, step: { colour: '#67000d', label: 'admin.heat.holds.more', vars: { n: 10 } } },
];

/** By how soon after the opening a seat sold (viridis: dark = fastest), upper bounds in seconds. */
const SPEED_STEPS: { upTo: number; step: Step }[] = [
  { upTo: 60, step: { colour: '#440154', label: 'admin.heat.speed.minutes', vars: { n: 1 } } },
  { upTo: 300, step: { colour: '#414487', label: 'admin.heat.speed.minutes', vars: { n: 5 } } },
  { upTo: 1_800, step: { colour: '#2a788e', label: 'admin.heat.speed.minutes', vars: { n: 30 } } },
  { upTo: 7_200, step: { colour: '#22a884', label: 'admin.heat.speed.hours', vars: { n: 2 } } },
  { upTo: 86_400, step: { colour: '#7ad151', label: 'admin.heat.speed.hours', vars: { n: 24 } } },
  { upTo: Infinity, step: { colour: '#fde725', label: 'admin.heat.speed.later' } },
];

export function legend(mode: HeatMode): Step[] {
  const quiet: Step = { colour: QUIET, label: mode === 'holds' ? 'admin.heat.holds.none' : 'admin.heat.speed.unsold' };
  return [quiet, ...(mode === 'holds' ? HOLD_STEPS : SPEED_STEPS).map((s) => s.step)];
}

export function holdColour(holds: number): string {
  if (holds <= 0) return QUIET;
  return HOLD_STEPS.find((s) => holds <= s.upTo)?.step.colour ?? QUIET;
}

export function speedColour(seconds: number | null | undefined): string {
  if (seconds == null) return QUIET;
  return SPEED_STEPS.find((s) => seconds <= s.upTo)?.step.colour ?? QUIET;
}
