/**
 * Just enough parsing of nginx.conf and Dockerfile syntax for the deploy-config tests to read the
 * files the way nginx and docker do (comments, quoting, blocks, line continuations), rather than
 * grepping for strings that a comment could also contain.
 */

/** One nginx directive: `name args…;` or `name args… { children }`. */
export interface NginxDirective {
  name: string;
  args: string[];
  children?: NginxDirective[];
}

export function parseNginxConf(text: string): NginxDirective[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === ';' || c === '{' || c === '}') {
      tokens.push(c);
      i++;
    } else if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end === -1) throw new Error(`unterminated quote at offset ${i}`);
      tokens.push(text.slice(i + 1, end));
      i = end + 1;
    } else {
      let j = i;
      while (j < text.length && !' \t\r\n;{}#'.includes(text[j])) j++;
      tokens.push(text.slice(i, j));
      i = j;
    }
  }
  let pos = 0;
  const block = (): NginxDirective[] => {
    const out: NginxDirective[] = [];
    while (pos < tokens.length && tokens[pos] !== '}') {
      const name = tokens[pos++];
      const args: string[] = [];
      while (pos < tokens.length && tokens[pos] !== ';' && tokens[pos] !== '{') args.push(tokens[pos++]);
      if (tokens[pos] === ';') {
        pos++;
        out.push({ name, args });
      } else if (tokens[pos] === '{') {
        pos++;
        const children = block();
        if (tokens[pos++] !== '}') throw new Error(`block "${name}" is not closed`);
        out.push({ name, args, children });
      } else {
        throw new Error(`directive "${name}" has no ; or {`);
      }
    }
    return out;
  };
  const tree = block();
  if (pos !== tokens.length) throw new Error('unbalanced }');
  return tree;
}

/** Every directive named `name` anywhere under `tree`. */
export function findAll(tree: NginxDirective[], name: string): NginxDirective[] {
  const out: NginxDirective[] = [];
  for (const d of tree) {
    if (d.name === name) out.push(d);
    if (d.children) out.push(...findAll(d.children, name));
  }
  return out;
}

export interface DockerInstruction {
  instruction: string;
  /** The rest of the (joined) line. */
  value: string;
  /** 1-based index of the build stage (FROM) it belongs to. */
  stage: number;
}

export function parseDockerfile(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let stage = 0;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const space = full.indexOf(' ');
    const instruction = (space === -1 ? full : full.slice(0, space)).toUpperCase();
    if (instruction === 'FROM') stage++;
    out.push({ instruction, value: space === -1 ? '' : full.slice(space + 1).trim(), stage });
  }
  return out;
}

/**
 * Whether an npm `engines.node` range admits Node `major` (any release of that line). Reads the
 * forms package.json uses — `^N`, `~N`, `N`, `N.x`, `>=N`, `>N`, `<N`, `<=N`, space-joined (AND)
 * and `||`-joined (OR) — by major only; anything else throws rather than guess.
 */
export function engineAdmitsMajor(range: string, major: number): boolean {
  return range.split('||').some((alternative) => {
    const parts = alternative.trim().split(/\s+/).filter(Boolean);
    if (parts.length === 0) throw new Error(`empty alternative in engines range "${range}"`);
    return parts.every((part) => {
      const m = /^(\^|~|>=|>|<=|<|=)?v?(\d+)(?:\.(?:\d+|x|\*))*$/.exec(part);
      if (!m) throw new Error(`cannot read "${part}" in engines range "${range}"`);
      const n = Number(m[2]);
      switch (m[1]) {
        case '>=': return major >= n;
        case '>': return major > n || (major === n && /\.\d/.test(part));
        case '<': return major < n || (major === n && /\.[1-9]/.test(part));
        case '<=': return major <= n;
        default: return major === n;
      }
    });
  });
}
