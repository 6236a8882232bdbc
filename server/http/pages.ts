/**
 * The browser pages. Each needs a token (`?token=` from an invite link) whose role may open it
 * and whose assembly exists; the watch page also checks that the token is for the assembly in
 * its path. A page is the HTML shell `public/shell.html` filled in with the page's name, its
 * assembly and role; its script is the esbuild bundle `/assets/<page>.js` (from public/src/).
 * Refusals are small HTML pages that say what was wrong.
 */
import { readFileSync } from 'node:fs';
import { Router, type Request, type Response } from 'express';
import { ALL_ASSEMBLIES, type Role } from '../auth/roles.js';
import type { TokenClaims, Tokens } from '../auth/Tokens.js';
import type { Assemblies } from '../domain/Assemblies.js';
import { parseAssemblyId, type AssemblyId } from '../domain/ids.js';
import { toWireError } from '../wire/errors.js';
import type { Logger } from '../log.js';
import { queryToken } from './authenticate.js';

interface PageSpec {
  page: 'camera' | 'studio' | 'panel' | 'watch' | 'operator';
  title: string;
  roles: readonly Role[];
}

const PAGES: Record<PageSpec['page'], PageSpec> = {
  camera: { page: 'camera', title: 'Camera', roles: ['camera'] },
  studio: { page: 'studio', title: 'Studio', roles: ['presenter', 'moderator'] },
  panel: { page: 'panel', title: 'Control panel', roles: ['moderator', 'operator'] },
  // The edge fleet: the service's, not an assembly's.
  operator: { page: 'operator', title: 'Edge fleet', roles: ['operator'] },
  // Everyone invited to an assembly may watch it.
  watch: {
    page: 'watch',
    title: 'Watch',
    roles: ['viewer', 'camera', 'presenter', 'moderator', 'operator'],
  },
};

/**
 * Refusals and the landing page stand alone (no page bundle loads): their few styles are this
 * small stylesheet, served at NOTICE_CSS_PATH rather than inline, because the CSP allows no
 * inline style (server/security/securityHeaders.ts).
 */
const NOTICE_CSS =
  'body{margin:0;font:16px/1.45 system-ui,sans-serif;background:#f4f5f7;color:#16181d}' +
  'main{max-width:36rem;margin:12vh auto;padding:1.5rem;background:#fff;border:1px solid #d9dce3;' +
  'border-radius:10px}h1{font-size:1.3rem;margin:0 0 .75rem}' +
  'h2{font-size:1.05rem;margin:1.25rem 0 .5rem}' +
  '#error{color:#5b6270;font-size:.9rem;overflow-wrap:anywhere}summary{cursor:pointer}' +
  '.hint{color:#5b6270}@media (max-width:40rem){main{margin:1rem}}';
const NOTICE_CSS_PATH = '/assets/notice.css';
const REFUSAL_STYLE = `<link rel="stylesheet" href="${NOTICE_CSS_PATH}">`;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * `/`: what someone who types the server's address sees. Everything else needs an invite link,
 * so this says where links come from instead of answering a bare 404.
 */
const LANDING_PAGE =
  `<!doctype html><html lang="en"><meta charset="utf-8">` +
  `<meta name="viewport" content="width=device-width, initial-scale=1">` +
  `<link rel="icon" href="data:,"><title>Montage</title>${REFUSAL_STYLE}` +
  `<main><h1>Montage: live assemblies for a whole school</h1>` +
  `<p>Classroom cameras are mixed into one picture that the whole school watches live, ` +
  `on any browser.</p>` +
  `<h2>To join an assembly</h2>` +
  `<p>Open the invite link you were given: a link to watch, to be a classroom camera, to run ` +
  `the studio or the control panel. Each link opens its own page; there is nothing to install ` +
  `and no account to create.</p>` +
  `<p class="hint">No link? Ask your teacher or the assembly's moderator for one.</p>` +
  `<h2>Running this server?</h2>` +
  `<p class="hint">Create an assembly and get its moderator's link with ` +
  `<code>npm run token -- --create "Friday assembly"</code>; the control panel then makes ` +
  `the other links.</p></main></html>`;

/**
 * What a refused page says, in the words of the person holding the link: a title and what to
 * do. The technical reason stays on the page, folded away, for whoever helps them.
 */
export function plainRefusal(code: string): { title: string; advice: string } {
  switch (code) {
    case 'token_expired':
      return {
        title: 'This link has expired',
        advice: 'This link has expired; ask your teacher for a new one.',
      };
    case 'token_revoked':
      return {
        title: 'This link was turned off',
        advice: 'This link was revoked; ask your teacher for a new one.',
      };
    case 'token_missing':
      return {
        title: 'This page needs your invite link',
        advice: 'Open the whole invite link you were given, or ask your teacher for one.',
      };
    case 'token_invalid':
      return {
        title: 'This link does not work',
        advice:
          'The link may be cut short or mistyped. Open it again, or ask your teacher for a new one.',
      };
    case 'wrong_assembly':
      return {
        title: 'This link is for another assembly',
        advice: 'Open the link you were given for this assembly, or ask your teacher for one.',
      };
    case 'forbidden_role':
      return {
        title: 'This link cannot open this page',
        advice: 'Your link opens a different page: open it as it was given to you.',
      };
    case 'assembly_not_found':
      return {
        title: 'This assembly no longer exists',
        advice: 'It may have been deleted. Ask your teacher for a link to the current one.',
      };
    default:
      return {
        title: 'This page cannot be opened',
        advice: 'Check that you opened the whole invite link, or ask your teacher for a new one.',
      };
  }
}

/** How long an anonymous viewer of a public assembly may watch: a school day. */
const PUBLIC_VIEWER_TTL_SECONDS = 12 * 3600;

export interface PageDeps {
  tokens: Tokens;
  assemblies: Assemblies;
  logger: Logger;
  /** public/shell.html */
  shellFile: string;
}

export function pageRoutes(deps: PageDeps): Router {
  const shell = readFileSync(deps.shellFile, 'utf8');
  const router = Router();

  const render = (res: Response, spec: PageSpec, claims: TokenClaims, assembly: string): void => {
    const values: Record<string, string> = {
      title: spec.title,
      page: spec.page,
      assembly,
      role: claims.role,
    };
    const html = shell.replace(/\{\{(\w+)\}\}/g, (_, key: string) => escapeHtml(values[key] ?? ''));
    res.type('html').send(html);
  };

  const refuse = (res: Response, error: unknown): void => {
    const { status, error: wire, unexpected } = toWireError(error);
    if (unexpected) deps.logger.error('page failed', { error });
    const plain = plainRefusal(wire.code);
    res
      .status(status)
      .type('html')
      .send(
        `<!doctype html><html lang="en"><meta charset="utf-8">` +
          `<meta name="viewport" content="width=device-width, initial-scale=1">` +
          `<link rel="icon" href="data:,">` +
          `<title>${escapeHtml(plain.title)}</title>${REFUSAL_STYLE}` +
          `<main><h1>${escapeHtml(plain.title)}</h1>` +
          `<p id="advice">${escapeHtml(plain.advice)}</p>` +
          `<details><summary class="hint">Technical details</summary>` +
          `<p id="error" data-code="${escapeHtml(wire.code)}">${escapeHtml(wire.message)}` +
          ` (${status} ${escapeHtml(wire.code)})</p></details></main></html>`,
      );
  };

  /** Verifies the token for `spec`; `pathAssembly` is the assembly the URL names, if any. */
  const open = (req: Request, res: Response, spec: PageSpec, pathAssembly?: AssemblyId): void => {
    try {
      const claims = deps.tokens.verify(queryToken(req), {
        roles: spec.roles,
        action: `open the ${spec.page} page`,
        assembly: pathAssembly,
      });
      const assembly = pathAssembly ?? claims.assembly;
      if (assembly !== ALL_ASSEMBLIES) deps.assemblies.get(assembly);
      render(res, spec, claims, assembly);
    } catch (error) {
      refuse(res, error);
    }
  };

  router.use(['/camera', '/studio', '/panel', '/watch', '/operator'], (_req, res, next) => {
    // Pages carry a token in their URL: never cache them, never leak the URL as a referrer.
    res.set('Cache-Control', 'no-store');
    res.set('Referrer-Policy', 'no-referrer');
    next();
  });
  // Invite links name the assembly in the path (/camera/ASSEMBLY), and the token must be for
  // it. The bare forms take the assembly from the token; they serve links minted before paths
  // named it, and the operator's panel, which covers every assembly.
  const inAssembly =
    (spec: PageSpec) =>
    (req: Request<{ assembly: string }>, res: Response): void => {
      try {
        open(req, res, spec, parseAssemblyId(req.params.assembly));
      } catch (error) {
        refuse(res, error);
      }
    };
  router.get(NOTICE_CSS_PATH, (_req, res) => {
    res.set('Cache-Control', 'public, max-age=3600');
    res.type('css').send(NOTICE_CSS);
  });
  router.get('/', (_req, res) => {
    res.type('html').send(LANDING_PAGE);
  });
  router.get('/camera', (req, res) => open(req, res, PAGES.camera));
  router.get('/studio', (req, res) => open(req, res, PAGES.studio));
  router.get('/panel', (req, res) => open(req, res, PAGES.panel));
  router.get('/operator', (req, res) => open(req, res, PAGES.operator));
  router.get('/camera/:assembly', inAssembly(PAGES.camera));
  router.get('/studio/:assembly', inAssembly(PAGES.studio));
  router.get('/panel/:assembly', inAssembly(PAGES.panel));
  // A public assembly (an operator's choice, see assemblyRoutes) opens without a link: the
  // visitor gets an anonymous viewer token, valid only while the assembly stays public.
  router.get('/watch/:assembly', (req: Request<{ assembly: string }>, res, next) => {
    if (req.query.token !== undefined) {
      next();
      return;
    }
    let assembly: AssemblyId;
    try {
      assembly = parseAssemblyId(req.params.assembly);
    } catch (error) {
      refuse(res, error);
      return;
    }
    if (deps.assemblies.find(assembly)?.publicWatch !== true) {
      next();
      return;
    }
    const token = deps.tokens.sign({
      assembly,
      role: 'viewer',
      ttlSeconds: PUBLIC_VIEWER_TTL_SECONDS,
      publicViewer: true,
    });
    res.redirect(303, `/watch/${assembly}?token=${encodeURIComponent(token)}`);
  });
  router.get('/watch/:assembly', inAssembly(PAGES.watch));
  return router;
}
