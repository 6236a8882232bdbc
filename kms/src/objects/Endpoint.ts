import { MediaElement } from './MediaElement.js';

/** Kurento's Endpoint: a MediaElement at the edge of the pipeline. Adds nothing on the wire. */
export abstract class Endpoint extends MediaElement {}
