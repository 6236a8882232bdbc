import { MediaRefusedError } from '../domain/errors.js';

/**
 * kurento-client 7 methods called without a callback never reject: the library installs a
 * callback of its own that logs a server error (console.trace) and resolves `undefined`. A cut
 * the media server refused would then be acknowledged as done while the program stayed where it
 * was. `strict` calls a method with a callback of ours, so the server's error rejects, as a
 * MediaRefusedError naming `what` was asked (for the user) and the server's reason.
 *
 *   await strict('the cut', (done) => switcher.connect(port, programOut, done));
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
