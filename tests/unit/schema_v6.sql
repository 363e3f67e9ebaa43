-- A version-6 database as the home-made migrations (before Alembic) made it.
CREATE TABLE events (
	id INTEGER NOT NULL, 
	at FLOAT NOT NULL, 
	actor VARCHAR(64) NOT NULL, 
	action VARCHAR(32) NOT NULL, 
	service_id INTEGER, 
	party VARCHAR(64), 
	detail JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE interfaces (
	id INTEGER NOT NULL, 
	party_id INTEGER NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	switch VARCHAR(64) NOT NULL, 
	port INTEGER NOT NULL, 
	mac VARCHAR(17) NOT NULL, 
	location VARCHAR(200) DEFAULT '' NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (party_id, name), 
	UNIQUE (switch, port), 
	FOREIGN KEY(party_id) REFERENCES parties (id), 
	UNIQUE (mac)
);
CREATE TABLE members (
	id INTEGER NOT NULL, 
	service_id INTEGER NOT NULL, 
	party_id INTEGER NOT NULL, 
	interface_id INTEGER, 
	role VARCHAR(8) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	error VARCHAR(500), 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(service_id) REFERENCES services (id), 
	FOREIGN KEY(party_id) REFERENCES parties (id), 
	FOREIGN KEY(interface_id) REFERENCES interfaces (id)
);
CREATE TABLE network_down (
	kind VARCHAR(8) NOT NULL, 
	name VARCHAR(140) NOT NULL, 
	PRIMARY KEY (kind, name)
);
CREATE TABLE offers (
	id INTEGER NOT NULL, 
	service_id INTEGER NOT NULL, 
	party_id INTEGER, 
	code_hash VARCHAR(64), 
	state VARCHAR(16) NOT NULL, 
	expires_at FLOAT NOT NULL, 
	created_at FLOAT NOT NULL, 
	decided_at FLOAT, 
	owner_id INTEGER, 
	PRIMARY KEY (id), 
	FOREIGN KEY(service_id) REFERENCES services (id), 
	FOREIGN KEY(party_id) REFERENCES parties (id), 
	UNIQUE (code_hash), 
	FOREIGN KEY(owner_id) REFERENCES parties (id)
);
CREATE TABLE orders (
	id INTEGER NOT NULL, 
	service_id INTEGER NOT NULL, 
	member_id INTEGER NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	created_at FLOAT NOT NULL, 
	fulfilled_at FLOAT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(service_id) REFERENCES services (id), 
	FOREIGN KEY(member_id) REFERENCES members (id)
);
CREATE TABLE parties (
	id INTEGER NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	service_kinds JSON NOT NULL, 
	max_bandwidth_mbps INTEGER NOT NULL, 
	max_channels INTEGER NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name), 
	UNIQUE (token_hash)
);
CREATE TABLE reservations (
	service_id INTEGER NOT NULL, 
	link VARCHAR(140) NOT NULL, 
	mbps INTEGER NOT NULL, 
	PRIMARY KEY (service_id, link), 
	FOREIGN KEY(service_id) REFERENCES services (id)
);
CREATE TABLE schema_version (
	version INTEGER NOT NULL
);
INSERT INTO "schema_version" VALUES(6);
CREATE TABLE services (
	id INTEGER NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	attributes JSON NOT NULL, 
	owner_id INTEGER NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	vlan INTEGER, 
	provisioning JSON NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(owner_id) REFERENCES parties (id)
);
CREATE TABLE vlan_freed (
	vlan INTEGER NOT NULL, 
	at FLOAT NOT NULL, 
	PRIMARY KEY (vlan)
);
CREATE TABLE write_gate (
	id INTEGER NOT NULL, 
	generation INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "write_gate" VALUES(1,0);
CREATE INDEX ix_events_party ON events (party);
CREATE INDEX ix_events_service ON events (service_id);
CREATE UNIQUE INDEX uq_live_service_vlan ON services (vlan) WHERE state != 'deleted';
CREATE UNIQUE INDEX uq_live_service_name ON services (owner_id, name) WHERE state != 'deleted';
CREATE INDEX ix_services_vlan_state ON services (vlan, state);
CREATE INDEX ix_services_owner ON services (owner_id);
CREATE INDEX ix_members_service_state ON members (service_id, state);
CREATE INDEX ix_members_party_service ON members (party_id, service_id, state);
CREATE INDEX ix_members_interface_state ON members (interface_id, state);
CREATE UNIQUE INDEX uq_live_member_party ON members (service_id, party_id) WHERE state IN ('accepted', 'provisioned');
CREATE UNIQUE INDEX uq_pending_offer_party ON offers (service_id, party_id) WHERE state = 'pending';
CREATE INDEX ix_offers_owner ON offers (owner_id);
CREATE INDEX ix_offers_state_expiry ON offers (state, expires_at);
CREATE INDEX ix_offers_party ON offers (party_id);
CREATE INDEX ix_offers_service_state ON offers (service_id, state);
CREATE INDEX ix_orders_member_state ON orders (member_id, state);
CREATE UNIQUE INDEX uq_live_member_interface ON members (interface_id) WHERE state IN ('accepted', 'provisioned', 'leaving', 'suspended');
CREATE INDEX ix_vlan_freed_at ON vlan_freed (at);
