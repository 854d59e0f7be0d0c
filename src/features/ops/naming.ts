/**
 * The words of feature names that op modules share (docs/project-reference.md, "Aggregations").
 * Re-exported by `features/definitions.ts`.
 */

/** Participles the regular rule of {@link pastTense} would get wrong. */
const IRREGULAR_PAST: Readonly<Record<string, string>> = { impression: 'impressed', buy: 'bought', view: 'viewed', fav: 'favourited', rating: 'rated' };

/**
 * The past participle of an event type in last_k names (`user_last_clicked_items`): the last
 * word of the type (`item_profile` -> `profile`), with a few irregular forms (impression ->
 * impressed, buy -> bought, fav -> favourited, rating -> rated), else `e` -> `ed`, consonant +
 * `y` -> `ied`, otherwise `+ed` (click -> clicked, order -> ordered, cart -> carted).
 */
export function pastTense(source: string): string {
  const word = source.slice(source.lastIndexOf('_') + 1);
  const irregular = IRREGULAR_PAST[word];
  if (irregular !== undefined) return irregular;
  if (word.endsWith('e')) return `${word}d`;
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}ied`;
  return `${word}ed`;
}

/**
 * The plural noun of a field in names: a trailing `Id` is dropped and the rest pluralised
 * (`itemId` -> `items`, `categoryId` -> `categories`, `brand` -> `brands`, `ageBucket` ->
 * `ageBuckets`). camelCase is kept as written, as it is for field names elsewhere in names.
 */
export function fieldNoun(field: string): string {
  const stem = field.length > 2 && field.endsWith('Id') ? field.slice(0, -2) : field;
  if (/[^aeiouAEIOU]y$/.test(stem)) return `${stem.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(stem)) return `${stem}es`;
  return `${stem}s`;
}
