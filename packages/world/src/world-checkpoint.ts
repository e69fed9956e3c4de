/**
 * What one scenario cell may leave behind in a world's public registrars, and how the next cell gets them
 * back as they were: the DNS zone (a look-alike domain's MX, SPF, DKIM and DMARC p=reject, an outside MX, a
 * CA challenge TXT record), the domain registrar's records (creation date, registrant) and the public S/MIME
 * CA's directory. A reused world restored to its checkpoint answers the next cell as a fresh world would.
 *
 * What the orgs and the registry keep (mail in mailboxes, journeys, revocations, incident cases, locked
 * cards, forwarding rules) is not restored here: cells tell mail apart by Message-ID and marker, and a cell
 * that changed an actor's state gets a fresh world (executor/matrix-executor.ts `needsFreshWorldAfter`).
 */
import type { World } from './world.js';

/**
 * Records `world`'s public registrars as they are now; the returned function puts them back (it may be
 * called any number of times). Objects other services hold (the registrar records the reputation check
 * reads) are edited in place, never replaced.
 */
export function checkpointWorld(world: World): () => void {
  const zone = world.net.zone.snapshot();
  const domainRegistry = { ...world.domainRegistry };
  const registrants = { ...world.registrants };
  const publicCa = world.publicCa.checkpoint();
  return () => {
    world.net.zone.restore(zone);
    putBack(world.domainRegistry, domainRegistry);
    putBack(world.registrants, registrants);
    publicCa();
  };
}

function putBack<T>(target: Record<string, T>, saved: Readonly<Record<string, T>>): void {
  for (const k of Object.keys(target)) if (!(k in saved)) delete target[k];
  Object.assign(target, saved);
}
