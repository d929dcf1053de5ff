/**
 * Which of many literal strings occur in a text, found in one pass over the text
 * (Aho–Corasick). The resource index uses it to pick, among hundreds of id patterns, the few
 * whose fixed part appears in a resource id before testing them in full.
 */
export class LiteralIndex {
  /** Transitions per state, by UTF-16 code unit. */
  private readonly next: Array<Map<number, number>> = [new Map()];
  private readonly fail: number[] = [0];
  /** Ids of the literals that end in each state (its own and those reached through `fail`). */
  private readonly output: number[][] = [[]];

  /** `literals[i]` is reported as `i`. Empty literals are not indexed (they occur everywhere). */
  constructor(literals: readonly string[]) {
    literals.forEach((literal, id) => {
      if (literal === '') return;
      let state = 0;
      for (let i = 0; i < literal.length; i += 1) {
        const code = literal.charCodeAt(i);
        let to = this.next[state]!.get(code);
        if (to === undefined) {
          to = this.next.length;
          this.next.push(new Map());
          this.fail.push(0);
          this.output.push([]);
          this.next[state]!.set(code, to);
        }
        state = to;
      }
      this.output[state]!.push(id);
    });
    // Breadth-first: a state's failure link is the longest proper suffix that is also a prefix.
    const queue = [...this.next[0]!.values()];
    for (let head = 0; head < queue.length; head += 1) {
      const state = queue[head]!;
      for (const [code, to] of this.next[state]!) {
        let f = this.fail[state]!;
        while (f !== 0 && !this.next[f]!.has(code)) f = this.fail[f]!;
        const target = this.next[f]!.get(code);
        this.fail[to] = target !== undefined && target !== to ? target : 0;
        this.output[to] = [...this.output[to]!, ...this.output[this.fail[to]!]!];
        queue.push(to);
      }
    }
  }

  /** Marks `seen[id] = true` for every literal that occurs in `text`; returns how many were new. */
  find(text: string, seen: Uint8Array): number {
    let found = 0;
    let state = 0;
    for (let i = 0; i < text.length; i += 1) {
      const code = text.charCodeAt(i);
      let to = this.next[state]!.get(code);
      while (to === undefined && state !== 0) {
        state = this.fail[state]!;
        to = this.next[state]!.get(code);
      }
      state = to ?? 0;
      for (const id of this.output[state]!) {
        if (seen[id] === 0) {
          seen[id] = 1;
          found += 1;
        }
      }
    }
    return found;
  }
}
