-- Cart ownership: carts bound to a user, and carts merged into another at login.

-- A cart's owner must be a real account (carts were created before accounts existed,
-- so the column came without the reference).
alter table carts
    add constraint carts_user_fk foreign key (user_id) references users (id);

-- merged: the student logged in to another (guest) cart and this one's items moved
-- there; its token no longer opens anything. merged_into says where they went.
alter table carts drop constraint carts_status_check;
alter table carts add constraint carts_status_check
    check (status in ('draft', 'active', 'expired', 'converted', 'merged'));
alter table carts add column merged_into uuid references carts (id);

-- "the user's open carts", looked up at every cart login
create index carts_user_open on carts (user_id, updated_at desc)
    where user_id is not null and status in ('draft', 'active');
