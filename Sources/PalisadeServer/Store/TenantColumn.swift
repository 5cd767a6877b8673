import SQLKit

extension SQLDatabase {
    /// `tenant_id` for a statement that also names its rows by key (`device_id IN (...)`):
    /// written `+tenant_id` on SQLite, which keeps the filter but takes the term out of the
    /// index choice. Without statistics SQLite takes an equality on an index's first column as
    /// selective, so an index that starts with `tenant_id` won over the key's index and each
    /// statement scanned the tenant's rows: with 100,000 devices, a scope change took 2.3 times
    /// as long and a rule change 3 times (BENCHMARKS.md, issue 18). PostgreSQL plans from
    /// statistics, and has no unary plus for text.
    var tenantColumnBesideKeys: String {
        tenantColumnBesideKeys(table: nil)
    }

    /// The same for a table named (or aliased) `table` in a join.
    func tenantColumnBesideKeys(table: String?) -> String {
        let column = table.map { "\($0).tenant_id" } ?? "tenant_id"
        return dialect.name == "sqlite" ? "+" + column : column
    }
}
