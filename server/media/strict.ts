import type kurento from 'kurento-client';
import { MediaRefusedError } from '../domain/errors.js';

/**
 * kurento-client 7 methods called without a callback never reject: the library installs a
 * callback of its own that logs a server error (console.trace) and resolves `undefined`. A cut
 * the media server refused would then be acknowledged as done while the program stayed where it
 * was; a refused mute would leave a microphone on the program while the panel says it is off.
 * `strict` calls a method with a callback of ours, so the server's error rejects, as a
 * MediaRefusedError naming `what` was asked (for the user) and the server's reason.
 *
 *   await strict('the cut', (done) => switcher.connect(port, programOut, done));
 *
 * Every call that changes what the assembly's graph carries goes through it. Releases do not:
 * an object that is gone already is what a release wants.
 */
export type KurentoCallback<R> = (error: Error | null | undefined, result?: R) => void;

export function strict<R = void>(
  what: string,
  call: (done: KurentoCallback<R>) => unknown,
): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    call((error, result) =>
      error ? reject(new MediaRefusedError(what, error.message)) : resolve(result as R),
    );
  });
}

/** `source.connect(sink[, mediaType])`, strictly. */
export function connect(
  what: string,
  source: kurento.MediaElement,
  sink: kurento.MediaElement,
  mediaType?: kurento.MediaType,
): Promise<void> {
  return strict(what, (done) =>
    mediaType === undefined ? source.connect(sink, done) : source.connect(sink, mediaType, done),
  );
}

/** `source.disconnect(sink[, mediaType])`, strictly. */
export function disconnect(
  what: string,
  source: kurento.MediaElement,
  sink: kurento.MediaElement,
  mediaType?: kurento.MediaType,
): Promise<void> {
  return strict(what, (done) =>
    mediaType === undefined
      ? source.disconnect(sink, done)
      : source.disconnect(sink, mediaType, done),
  );
}
