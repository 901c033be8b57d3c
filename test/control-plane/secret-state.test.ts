// A certificate's expiry state is relative to its lifetime: under a third left
// is "expiring" (a renewing source replaces it at two thirds), capped at 7 days.
import t from 'tap';
import { secretState } from '../../control-plane/core/secret-store.ts';

const H = 3600_000, D = 24 * H;
const at = (nb: number, na: number, now: number) => secretState(new Date(nb), new Date(na), now);

t.equal(at(0, H, 60_000), 'valid', 'a 1-hour leaf right after issue');
t.equal(at(0, H, 39 * 60_000), 'valid', 'a 1-hour leaf at 39 min (21 min left)');
t.equal(at(0, H, 41 * 60_000), 'expiring', 'a 1-hour leaf at 41 min (19 min left, under a third)');
t.equal(at(0, H, H), 'expired', 'at notAfter');
t.equal(at(0, H, 2 * H), 'expired', 'after notAfter');
t.equal(at(0, 90 * D, 80 * D), 'valid', '90-day cert with 10 days left (cap 7 d)');
t.equal(at(0, 90 * D, 84 * D), 'expiring', '90-day cert with 6 days left');
t.equal(at(0, 3 * D, D), 'valid', '3-day cert with 2 days left');
t.equal(at(0, 3 * D, 2.1 * D), 'expiring', '3-day cert with 0.9 days left');
t.equal(at(5 * H, H, 0), 'valid', 'notBefore after notAfter: no lifetime, not expiring until expired');
