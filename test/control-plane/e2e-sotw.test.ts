import t from 'tap';
import { runScenario } from './e2e-scenario.ts';

t.test('real Envoy over SotW ADS: bootstrap only, live route change, NACK, restart', (t) => runScenario(t, 'sotw'));
