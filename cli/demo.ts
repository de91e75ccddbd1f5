/**
 * `npm start` (for now): a short tour of the database value — install a schema as data,
 * transact, pull, travel back in time, and read the history.
 */
import { createConn, entity, printEdn, pull, TX0 } from '../libs/db/index.js';

const SCHEMA = `[
  {:db/ident :person/name   :db/valueType :db.type/string :db/cardinality :db.cardinality/one}
  {:db/ident :person/email  :db/valueType :db.type/string :db/unique :db.unique/identity}
  {:db/ident :person/friend :db/valueType :db.type/ref    :db/cardinality :db.cardinality/many}
  {:db/ident :person/city   :db/valueType :db.type/string}
]`;

function show(title: string, value: unknown): void {
  console.log(`\n${title}\n  ${printEdn(value)}`);
}

const conn = createConn(SCHEMA);
conn.listen('log', (r) =>
  console.log(`  committed t=${r.dbAfter.basisT} (${r.txData.length} datoms)`),
);

console.log(
  'Diagon — the database value (libs/db)\n\nInstalled a schema as data; now three people move in:',
);
const first = conn.transact(`[
  {:db/id "ada"   :person/name "Ada"   :person/email "ada@example.org"   :person/city "London" :person/friend ["grace"]}
  {:db/id "grace" :person/name "Grace" :person/email "grace@example.org" :person/city "New York"}
  {:db/id "alan"  :person/name "Alan"  :person/email "alan@example.org"  :person/city "Manchester" :person/friend ["ada" "grace"]}
]`);
const t1 = first.dbAfter.basisT;

console.log('Ada moves to Cambridge (an upsert through her email, a unique identity):');
conn.transact([{ 'person/email': 'ada@example.org', 'person/city': 'Cambridge' }]);

const db = conn.db;
const alan = ['person/email', 'alan@example.org'] as const;
show(
  'pull Alan with his friends, now:',
  pull(db, '[:person/name {:person/friend [:person/name :person/city]}]', alan),
);
show(
  `the same pull as of t=${t1}:`,
  pull(db.asOf(t1), '[:person/name {:person/friend [:person/name :person/city]}]', alan),
);

const ada = entity(db, ['person/email', 'ada@example.org'])!;
show(
  "entity navigation: Ada's friends' names",
  (ada.get('person/friend') as { get(a: string): unknown }[]).map((f) => f.get('person/name')),
);
show(
  "every value Ada's city has had (history):",
  db
    .history()
    .datoms('eavt', ada.id, 'person/city')
    .sort((x, y) => x.tx - y.tx)
    .map((d) => [d.v, d.added ? 'asserted' : 'retracted', `t=${d.tx - TX0}`]),
);
console.log('\nNext: `npm test` runs the test suite; README.md shows the API.');
