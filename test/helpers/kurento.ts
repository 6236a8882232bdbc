import kurento from 'kurento-client';

/**
 * Connects kurento-client 7.2.0 the way tests need it: give up after one failed reconnect
 * instead of retrying forever, and keep kurento-jsonrpc's duplicate-response cache for 200 ms
 * instead of 20 s, whose timers would otherwise hold each test process open for 20 s.
 */
export async function connectKurento(url: string): Promise<kurento.KurentoClient> {
  return kurento(url, { failAfter: 1, duplicates_timeout: 200 });
}
