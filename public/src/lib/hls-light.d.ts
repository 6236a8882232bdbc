/**
 * hls.js ships its "light" build (no DRM, subtitles, alternate audio or CMCD, none of which the
 * watch page uses; about 40 % less script to load before the first frame) without typings of
 * its own. Its API is the full build's, so it borrows those.
 */
declare module 'hls.js/light' {
  export * from 'hls.js';
  export { default } from 'hls.js';
}
