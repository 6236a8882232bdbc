/**
 * The moderator's control panel (entry point). A moderator's token covers one assembly; an
 * operator's covers all of them, so an operator picks one (`&assembly=ID` in the URL) before
 * the panel connects to it. The panel itself is `panel/PanelPage.ts` and its cards.
 */
import './lib/style.css';
import { pageAssembly, setAssemblyName, setStatus } from './lib/connect.js';
import { appRoot, h, replaceChildren } from './lib/dom.js';
import { AssembliesCard } from './panel/AssembliesCard.js';
import { PanelPage } from './panel/PanelPage.js';

async function main(): Promise<void> {
  const tokenAssembly = pageAssembly();
  const operator = tokenAssembly === '*';
  const requested = new URLSearchParams(location.search).get('assembly') ?? undefined;
  const assemblies = new AssembliesCard(operator ? requested : tokenAssembly);
  if (!operator) {
    new PanelPage(tokenAssembly, assemblies);
    await assemblies.load();
    return;
  }
  // An operator's token covers every assembly: open the one in the URL, or the first.
  replaceChildren(appRoot(), h('div', { class: 'layout panel' }, assemblies.element));
  const list = await assemblies.load();
  const chosen = requested ?? list[0]?.id;
  if (chosen === undefined) {
    setStatus('connecting', 'No assembly yet');
    setAssemblyName('Create an assembly to begin');
    return;
  }
  if (requested === undefined) {
    const url = new URL(location.href);
    url.searchParams.set('assembly', chosen);
    history.replaceState(null, '', url);
  }
  assemblies.current = chosen;
  new PanelPage(chosen, assemblies);
  await assemblies.load();
}

void main();
