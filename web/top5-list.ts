/** The top-5 list both demo pages draw: one `<li>` per class with its name, its score and a bar of that width. */

/** One class of the list. */
export interface ScoredLabel {
  readonly label: string;
  readonly score: number;
}

/** Replaces the children of `list` with one item per entry of `top`, best first as given. */
export function renderTop5(list: HTMLElement, top: readonly ScoredLabel[]): void {
  list.replaceChildren(
    ...top.map((t) => {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.textContent = t.label;
      const score = document.createElement('span');
      score.className = 'score';
      score.textContent = `${(t.score * 100).toFixed(1)}%`;
      const bar = document.createElement('div');
      bar.className = 'bar';
      const fill = document.createElement('div');
      fill.style.width = `${(t.score * 100).toFixed(1)}%`;
      bar.append(fill);
      li.append(name, score, bar);
      return li;
    }),
  );
}
