import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Countersign } from '../src/countersign.js';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Puts a benchmark-only handler in front of the app's HTTP listener: requests for which `mine`
 * is true go to `handle`, every other one to the product as before. Never part of the product.
 */
export function handleAhead(app: Countersign, mine: (req: IncomingMessage) => boolean, handle: Listener): void {
  const [product] = app.server.listeners('request') as Listener[];
  if (!product) throw new Error('the server has no request listener');
  app.server.removeAllListeners('request');
  app.server.on('request', (req: IncomingMessage, res: ServerResponse) => (mine(req) ? handle(req, res) : product(req, res)));
}
