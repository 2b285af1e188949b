import { useEffect, useState, type ComponentType, type LazyExoticComponent } from 'react';
import type { MessageKey } from './messages.ts';

/**
 * Pages are routed by the URL hash (#/pay), so the server serves one HTML page per app and deep
 * links work without a fallback. Each domain adds its pages as a module: a list of routes.
 */
export interface PageRoute {
  /** The hash path, e.g. "/pay". */
  path: string;
  /** Dictionary key of the page title (and of its navigation label). */
  title: MessageKey;
  component: ComponentType | LazyExoticComponent<ComponentType>;
  /** Shown in the navigation bar. */
  nav?: boolean;
  /** An icon character for the navigation bar. */
  icon?: string;
}

/** A domain's pages: the wallet and the console each assemble a route table from modules. */
export interface PageModule {
  name: string;
  routes: PageRoute[];
}

export function currentPath(): string {
  const hash = window.location.hash.replace(/^#/, '');
  return hash.startsWith('/') ? hash.split('?')[0]! : '/';
}

export function useHashPath(): string {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const onChange = () => setPath(currentPath());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return path;
}

export function navigate(path: string): void {
  window.location.hash = path;
}

export function findRoute(modules: readonly PageModule[], path: string): PageRoute | undefined {
  for (const m of modules) for (const r of m.routes) if (r.path === path) return r;
  return undefined;
}
