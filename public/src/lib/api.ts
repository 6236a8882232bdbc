/**
 * REST calls with the page's token as a bearer token. A refused call rejects with the server's
 * `{code, message}` as a RequestError, so pages show the server's own words.
 */
import { pageToken, RequestError } from './connect.js';

async function failure(response: Response): Promise<RequestError> {
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.message !== undefined) {
      return new RequestError(body.error.code ?? String(response.status), body.error.message);
    }
  } catch {
    // Not JSON: fall through to the status line.
  }
  return new RequestError(String(response.status), `${response.status} ${response.statusText}`);
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  // No token: a public assembly's watch API needs none (server/http/hlsRoutes.ts).
  const headers: Record<string, string> =
    pageToken() === '' ? {} : { authorization: `Bearer ${pageToken()}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new RequestError('network', 'the server cannot be reached');
  }
  if (!response.ok) throw await failure(response);
  return (response.status === 204 ? undefined : await response.json()) as T;
}

/**
 * Uploads `file` as the raw request body (the server streams it to disk), reporting progress
 * as a fraction; XMLHttpRequest because fetch() has no upload progress.
 */
export function upload(
  path: string,
  file: File,
  onProgress: (fraction: number) => void,
): { done: Promise<void>; abort: () => void } {
  const xhr = new XMLHttpRequest();
  const done = new Promise<void>((resolve, reject) => {
    xhr.open('POST', path);
    xhr.setRequestHeader('authorization', `Bearer ${pageToken()}`);
    xhr.setRequestHeader('content-type', file.type !== '' ? file.type : 'application/octet-stream');
    // Header values must be ASCII, so the name always goes percent-encoded; the server decodes it.
    xhr.setRequestHeader('x-filename', encodeURIComponent(file.name));
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
        return;
      }
      let error = new RequestError(String(xhr.status), `${xhr.status} ${xhr.statusText}`);
      try {
        const body = JSON.parse(xhr.responseText) as { error?: { code: string; message: string } };
        if (body.error !== undefined) error = new RequestError(body.error.code, body.error.message);
      } catch {
        // Not JSON: keep the status line.
      }
      reject(error);
    });
    xhr.addEventListener('error', () =>
      reject(new RequestError('network', 'the upload was interrupted')),
    );
    xhr.addEventListener('abort', () => reject(new RequestError('aborted', 'upload cancelled')));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}
