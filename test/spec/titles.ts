// Which spec ids ("[MQTT-x.y.z-n]") the test titles of the repository name, read from the TypeScript
// sources with the compiler's parser and binder (no type checking, nothing run).
//
// A title is the first argument of test(), it(), describe(), suite(), t.test() and their .only forms
// (.skip/.todo and { skip: true } / { todo: "..." } do not count). Titles are often built from data:
// the ids of a title expression are those of its string parts, and an identifier in it stands for the
// strings its declaration can give: its initializer, the array a for...of or forEach/map walks, or the
// arguments at the calls of the function whose parameter it is. That may over-approximate (every
// string of a table row counts, not just the one the title uses), never under-approximate, for the
// shapes used in test/.
import ts from "typescript";

export const ID = /\[(MQTT-\d+\.\d+\.\d+-\d+)\]/g;

export interface Title {
  file: string;
  line: number;
  /** The title as written, `${...}` parts shown as such. */
  text: string;
  ids: string[];
}

const TEST_FUNCTIONS = new Set(["test", "it", "describe", "suite"]);

function isTestCall(call: ts.CallExpression): boolean {
  const e = call.expression;
  let ok = false;
  if (ts.isIdentifier(e)) ok = TEST_FUNCTIONS.has(e.text);
  else if (ts.isPropertyAccessExpression(e)) {
    const name = e.name.text;
    if (name === "only") ok = ts.isIdentifier(e.expression) && TEST_FUNCTIONS.has(e.expression.text);
    else ok = name === "test" || name === "describe"; // t.test(), t.describe() (subtests)
  }
  if (!ok || !call.arguments.length) return false;
  // { skip: true } / { todo: "why" } as options: not a test that runs
  const opts = call.arguments[1];
  if (opts && ts.isObjectLiteralExpression(opts)) {
    for (const p of opts.properties) {
      if (ts.isPropertyAssignment(p) && ts.isIdentifier(p.name) && (p.name.text === "skip" || p.name.text === "todo")) {
        const v = p.initializer;
        if (v.kind === ts.SyntaxKind.TrueKeyword || ts.isStringLiteralLike(v)) return false;
      }
    }
  }
  return true;
}

function idsIn(text: string): string[] {
  return [...text.matchAll(ID)].map((m) => m[1]);
}

class Extractor {
  constructor(readonly checker: ts.TypeChecker, readonly sf: ts.SourceFile) {}

  ids(n: ts.Node | undefined, seen: Set<ts.Node>): string[] {
    if (!n || seen.has(n)) return [];
    seen.add(n);
    if (ts.isStringLiteralLike(n)) return idsIn(n.text);
    if (ts.isTemplateExpression(n)) {
      const out = idsIn(n.head.text);
      for (const s of n.templateSpans) out.push(...idsIn(s.literal.text), ...this.ids(s.expression, seen));
      return out;
    }
    if (ts.isParenthesizedExpression(n) || ts.isAsExpression(n) || ts.isNonNullExpression(n) || ts.isTypeAssertionExpression(n) ||
      ts.isSatisfiesExpression(n) || ts.isSpreadElement(n)) return this.ids(n.expression, seen);
    if (ts.isConditionalExpression(n)) return [...this.ids(n.whenTrue, seen), ...this.ids(n.whenFalse, seen)];
    if (ts.isBinaryExpression(n)) {
      const op = n.operatorToken.kind;
      if (op === ts.SyntaxKind.PlusToken || op === ts.SyntaxKind.BarBarToken || op === ts.SyntaxKind.QuestionQuestionToken) {
        return [...this.ids(n.left, seen), ...this.ids(n.right, seen)];
      }
      if (op === ts.SyntaxKind.AmpersandAmpersandToken) return this.ids(n.right, seen);
      return [];
    }
    if (ts.isIdentifier(n)) return this.identifier(n, seen);
    if (ts.isPropertyAccessExpression(n) || ts.isElementAccessExpression(n)) return this.ids(n.expression, seen);
    if (ts.isCallExpression(n)) {
      const out = n.arguments.flatMap((a) => this.ids(a, seen));
      if (ts.isPropertyAccessExpression(n.expression)) out.push(...this.ids(n.expression.expression, seen));
      return out;
    }
    if (ts.isArrayLiteralExpression(n)) return n.elements.flatMap((e) => this.ids(e, seen));
    if (ts.isObjectLiteralExpression(n)) {
      return n.properties.flatMap((p) => {
        const name = p.name && ts.isStringLiteralLike(p.name) ? idsIn(p.name.text) : [];
        if (ts.isPropertyAssignment(p)) return [...name, ...this.ids(p.initializer, seen)];
        if (ts.isShorthandPropertyAssignment(p)) return this.ids(p.name, seen);
        if (ts.isSpreadAssignment(p)) return this.ids(p.expression, seen);
        return name;
      });
    }
    if (ts.isArrowFunction(n) && !ts.isBlock(n.body)) return this.ids(n.body, seen);
    return [];
  }

  identifier(id: ts.Identifier, seen: Set<ts.Node>): string[] {
    const sym = this.checker.getSymbolAtLocation(id);
    const decl = sym && (sym.valueDeclaration || (sym.declarations && sym.declarations[0]));
    if (!decl) return [];
    // Up from a destructured name to the declaration or parameter it belongs to.
    let d: ts.Node = decl;
    while (ts.isBindingElement(d) || ts.isArrayBindingPattern(d) || ts.isObjectBindingPattern(d)) d = d.parent;
    if (ts.isVariableDeclaration(d)) {
      const loop = d.parent && d.parent.parent;
      if (loop && (ts.isForOfStatement(loop) || ts.isForInStatement(loop))) return this.ids(loop.expression, seen);
      return this.ids(d.initializer, seen);
    }
    if (ts.isParameter(d)) return this.parameter(d, seen);
    return [];
  }

  parameter(param: ts.ParameterDeclaration, seen: Set<ts.Node>): string[] {
    const fn = param.parent;
    const index = fn.parameters.indexOf(param);
    // cases.forEach((c) => test(...)) / cases.map(...): the elements of the array
    if ((ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) && ts.isCallExpression(fn.parent) &&
      fn.parent.arguments.includes(fn as ts.Expression) && ts.isPropertyAccessExpression(fn.parent.expression)) {
      return this.ids(fn.parent.expression.expression, seen);
    }
    // a named helper: the arguments of its calls in this file
    let nameNode: ts.Node | undefined;
    if (ts.isFunctionDeclaration(fn) && fn.name) nameNode = fn.name;
    else if ((ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) && ts.isVariableDeclaration(fn.parent)) nameNode = fn.parent.name;
    const target = nameNode && this.checker.getSymbolAtLocation(nameNode);
    if (!target) return [];
    const out: string[] = [];
    const visit = (n: ts.Node) => {
      if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && this.checker.getSymbolAtLocation(n.expression) === target) {
        out.push(...this.ids(n.arguments[index], seen));
      }
      ts.forEachChild(n, visit);
    };
    visit(this.sf);
    return out;
  }
}

/** Every test title in `files` (absolute paths of .ts sources), with the spec ids it names. */
export function testTitles(files: string[], root: string): Title[] {
  const program = ts.createProgram(files, {
    noResolve: true, noLib: true, types: [], target: ts.ScriptTarget.ES2022, allowJs: false, noEmit: true,
  });
  const checker = program.getTypeChecker();
  const out: Title[] = [];
  for (const file of files) {
    const sf = program.getSourceFile(file);
    if (!sf) throw new Error(`cannot read ${file}`);
    const x = new Extractor(checker, sf);
    const visit = (n: ts.Node) => {
      if (ts.isCallExpression(n) && isTestCall(n)) {
        const title = n.arguments[0];
        const ids = [...new Set(x.ids(title, new Set()))].sort();
        const rel = file.startsWith(root) ? file.slice(root.length + 1).split("\\").join("/") : file;
        out.push({ file: rel, line: sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1, text: title.getText(sf), ids });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}
