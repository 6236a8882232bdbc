/**
 * Small edits of SDP text, the way Kurento edits the descriptions it keeps (it appends
 * candidates to them as they appear): the text is split into its session part and its media
 * sections, and lines keep the description's own line ending.
 */

interface SplitSdp {
  eol: string;
  session: string[];
  medias: string[][];
}

function split(sdp: string): SplitSdp {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  const session: string[] = [];
  const medias: string[][] = [];
  for (const line of lines) {
    if (line.startsWith('m=')) medias.push([line]);
    else if (medias.length > 0) medias[medias.length - 1]?.push(line);
    else session.push(line);
  }
  return { eol, session, medias };
}

function join({ eol, session, medias }: SplitSdp): string {
  return [...session, ...medias.flat()].join(eol) + eol;
}

/** The port of an m= line (0 for a rejected or bundle-only section). */
function portOf(mLine: string): number {
  return Number(mLine.split(' ')[1] ?? '0');
}

function isActive(media: string[]): boolean {
  return portOf(media[0] ?? '') !== 0 && !media.includes('a=inactive');
}

/** Appends `a=<attribute>` to media section `index`; an index out of range changes nothing. */
export function addMediaAttribute(sdp: string, index: number, attribute: string): string {
  const parsed = split(sdp);
  const media = parsed.medias[index];
  if (media === undefined) return sdp;
  media.push(`a=${attribute}`);
  return join(parsed);
}

/** Appends `a=<attribute>` to every media section that is not rejected (port 0). */
export function addAttributeToAcceptedMedias(sdp: string, attribute: string): string {
  const parsed = split(sdp);
  for (const media of parsed.medias) {
    if (portOf(media[0] ?? '') !== 0) media.push(`a=${attribute}`);
  }
  return join(parsed);
}

/**
 * What Kurento writes once gathering is done: every active media section gets the default
 * candidate's port in its m= line and its address in its own c= line, and the session-level
 * c= line is dropped.
 */
export function setDefaultAddress(sdp: string, address: string, port: number): string {
  const parsed = split(sdp);
  const family = address.includes(':') ? 'IP6' : 'IP4';
  parsed.session = parsed.session.filter((line) => !line.startsWith('c='));
  parsed.medias = parsed.medias.map((media) => {
    if (!isActive(media)) return media;
    const [mLine = '', ...rest] = media;
    const fields = mLine.split(' ');
    fields[1] = String(port);
    return [
      fields.join(' '),
      `c=IN ${family} ${address}`,
      ...rest.filter((line) => !line.startsWith('c=')),
    ];
  });
  return join(parsed);
}
