-- The schema at version 2, as a controller of that version created it: kept, unedited,
-- to test the upgrade.
CREATE TABLE schema_version (
	version INTEGER NOT NULL
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
CREATE UNIQUE INDEX uq_live_service_name ON services (owner_id, name) WHERE state != 'deleted';
CREATE UNIQUE INDEX uq_live_service_vlan ON services (vlan) WHERE state != 'deleted';
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
CREATE UNIQUE INDEX uq_live_member_interface ON members (interface_id) WHERE state IN ('accepted', 'provisioned');
CREATE UNIQUE INDEX uq_live_member_party ON members (service_id, party_id) WHERE state IN ('accepted', 'provisioned');
CREATE TABLE offers (
	id INTEGER NOT NULL, 
	service_id INTEGER NOT NULL, 
	party_id INTEGER, 
	code_hash VARCHAR(64), 
	state VARCHAR(16) NOT NULL, 
	expires_at FLOAT NOT NULL, 
	created_at FLOAT NOT NULL, 
	decided_at FLOAT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(service_id) REFERENCES services (id), 
	FOREIGN KEY(party_id) REFERENCES parties (id), 
	UNIQUE (code_hash)
);
CREATE INDEX ix_offers_state_expiry ON offers (state, expires_at);
CREATE TABLE reservations (
	service_id INTEGER NOT NULL, 
	link VARCHAR(140) NOT NULL, 
	mbps INTEGER NOT NULL, 
	PRIMARY KEY (service_id, link), 
	FOREIGN KEY(service_id) REFERENCES services (id)
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
CREATE TABLE write_gate (
	id INTEGER NOT NULL, 
	generation INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
