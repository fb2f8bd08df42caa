-- GST tax invoices and credit notes (issue 29).
--
-- `document_series` holds the last number issued per series (prefix, kind) and
-- financial year. A document takes its number with `update ... returning` in the
-- transaction that inserts it, so the row lock is held only for that short
-- transaction and a number is used only if the document commits: no gaps, no
-- duplicates, whatever crashes.
create table document_series (
    prefix         text not null,
    kind           text not null check (kind in ('invoice', 'credit_note')),
    -- calendar year of the 1 April that starts the financial year
    financial_year int not null,
    last_sequence  bigint not null check (last_sequence >= 0),
    primary key (prefix, kind, financial_year)
);

-- One tax invoice per enrolled paid order. `document` is the whole document as
-- issued (domain::invoice::TaxDocument); the columns beside it are what listings,
-- reports and constraints need. Amounts in minor units of `currency`; the `inr_`
-- columns in paise (equal to the others for an INR order).
create table invoices (
    id              uuid primary key,
    order_id        uuid not null unique references orders (id),
    number          text not null unique,
    prefix          text not null,
    financial_year  int not null,
    sequence        bigint not null check (sequence > 0),
    issued_at       timestamptz not null,
    supply_type     text not null check (supply_type in ('b2c', 'b2b', 'export')),
    recipient_gstin text,
    -- GST state code ("29") of the place of supply, or the country of export
    place_of_supply text not null,
    currency        text not null,
    taxable_value   bigint not null,
    tax             bigint not null,
    total           bigint not null,
    inr_taxable_value bigint not null,
    inr_cgst        bigint not null,
    inr_sgst        bigint not null,
    inr_igst        bigint not null,
    inr_total       bigint not null,
    document        jsonb not null,
    unique (prefix, financial_year, sequence)
);

create index invoices_issued on invoices (issued_at);

-- One credit note per processed refund of an invoiced order.
create table credit_notes (
    id              uuid primary key,
    invoice_id      uuid not null references invoices (id),
    refund_id       uuid not null unique references refunds (id),
    number          text not null unique,
    prefix          text not null,
    financial_year  int not null,
    sequence        bigint not null check (sequence > 0),
    issued_at       timestamptz not null,
    currency        text not null,
    taxable_value   bigint not null,
    tax             bigint not null,
    total           bigint not null check (total > 0),
    inr_taxable_value bigint not null,
    inr_cgst        bigint not null,
    inr_sgst        bigint not null,
    inr_igst        bigint not null,
    inr_total       bigint not null,
    document        jsonb not null,
    unique (prefix, financial_year, sequence)
);

create index credit_notes_invoice on credit_notes (invoice_id);
create index credit_notes_issued on credit_notes (issued_at);

-- Issued documents are records for the tax authority: corrected by a new document,
-- never edited or removed.
create function refuse_document_change() returns trigger language plpgsql as $$
begin
    raise exception 'issued tax documents are immutable (% on %)', tg_op, tg_table_name;
end $$;

create trigger invoices_immutable before update or delete on invoices
    for each row execute function refuse_document_change();
create trigger invoices_no_truncate before truncate on invoices
    for each statement execute function refuse_document_change();
create trigger credit_notes_immutable before update or delete on credit_notes
    for each row execute function refuse_document_change();
create trigger credit_notes_no_truncate before truncate on credit_notes
    for each statement execute function refuse_document_change();
