package inbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

const productColumns = `product_id, product_code, title, type, concurrent_agreements, dimensions, registration, zero_usage_dimension, contract_metadata, created_at, updated_at`

func scanProduct(r store.Scanner) (marketplace.Product, error) {
	var p marketplace.Product
	var code sql.NullString
	var dims, reg, meta string
	var created, upd int64
	if err := r.Scan(&p.ProductID, &code, &p.Title, &p.Type, &p.ConcurrentAgreements, &dims, &reg, &p.ZeroUsageDimension, &meta, &created, &upd); err != nil {
		return p, err
	}
	p.ContractMetadata = []marketplace.MetadataField{}
	if err := json.Unmarshal([]byte(meta), &p.ContractMetadata); err != nil {
		return p, fmt.Errorf("decode contract metadata fields of %s: %w", p.ProductID, err)
	}
	if err := json.Unmarshal([]byte(reg), &p.Registration); err != nil {
		return p, fmt.Errorf("decode registration settings of %s: %w", p.ProductID, err)
	}
	p.ProductCode = code.String
	p.Dimensions = []marketplace.Dimension{}
	if err := json.Unmarshal([]byte(dims), &p.Dimensions); err != nil {
		return p, fmt.Errorf("decode dimensions of %s: %w", p.ProductID, err)
	}
	p.CreatedAt, p.UpdatedAt = store.FromMillis(created), store.FromMillis(upd)
	return p, nil
}

// PutProduct creates or replaces the vendor's configuration of a product.
func (l *Ledger) PutProduct(ctx context.Context, p marketplace.Product) (marketplace.Product, error) {
	var out marketplace.Product
	err := l.DB.Write(ctx, func(tx *store.Tx) error {
		before, existed, err := LoadProduct(ctx, tx, p.ProductID)
		if err != nil {
			return err
		}
		out, err = putProduct(ctx, tx, p, l.Now())
		if err != nil {
			return err
		}
		action := "product.create"
		if existed {
			action = "product.update"
		}
		return auditProduct(ctx, tx, action, before, existed, out)
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return out, fmt.Errorf("put product: %w", err)
	}
	return out, err
}

// putProduct validates and stores a product in tx, and returns it as stored.
func putProduct(ctx context.Context, tx *store.Tx, p marketplace.Product, at time.Time) (marketplace.Product, error) {
	if err := p.Validate(); err != nil {
		return p, err
	}
	if p.Dimensions == nil {
		p.Dimensions = []marketplace.Dimension{}
	}
	dims, err := json.Marshal(p.Dimensions)
	if err != nil {
		return p, err
	}
	reg, err := json.Marshal(p.Registration)
	if err != nil {
		return p, err
	}
	if p.ContractMetadata == nil {
		p.ContractMetadata = []marketplace.MetadataField{}
	}
	meta, err := json.Marshal(p.ContractMetadata)
	if err != nil {
		return p, err
	}
	if p.ProductCode != "" {
		var other string
		err := tx.QueryRow(ctx, `SELECT product_id FROM products WHERE product_code = ? AND product_id <> ?`, p.ProductCode, p.ProductID).Scan(&other)
		if err == nil {
			return p, marketplace.Errorf(marketplace.EConflict, "product code %s already belongs to product %s", p.ProductCode, other)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return p, err
		}
	}
	now := store.Millis(at)
	if _, err := tx.Exec(ctx, `INSERT INTO products (`+productColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (product_id) DO UPDATE SET product_code = excluded.product_code, title = excluded.title, type = excluded.type,
		concurrent_agreements = excluded.concurrent_agreements, dimensions = excluded.dimensions, registration = excluded.registration,
		zero_usage_dimension = excluded.zero_usage_dimension, contract_metadata = excluded.contract_metadata,
		updated_at = excluded.updated_at`,
		p.ProductID, store.NullString(p.ProductCode), p.Title, p.Type, p.ConcurrentAgreements, string(dims), string(reg), p.ZeroUsageDimension,
		string(meta), now, now); err != nil {
		return p, fmt.Errorf("upsert product: %w", err)
	}
	return scanProduct(tx.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE product_id = ?`, p.ProductID))
}

// GetProduct returns one product.
func (l *Ledger) GetProduct(ctx context.Context, id string) (marketplace.Product, error) {
	var p marketplace.Product
	err := l.DB.Read(ctx, func(tx *store.Tx) error {
		var ok bool
		var err error
		if p, ok, err = LoadProduct(ctx, tx, id); err == nil && !ok {
			return marketplace.Errorf(marketplace.ENotFound, "product %s not found", id)
		}
		return err
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return p, fmt.Errorf("get product: %w", err)
	}
	return p, err
}

// ListProducts lists products by id.
func (l *Ledger) ListProducts(ctx context.Context, pg Page) ([]marketplace.Product, error) {
	w := &where{}
	w.add("product_id > ?", pg.Cursor)
	var out []marketplace.Product
	err := l.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = store.QueryAll(ctx, tx, scanProduct, `SELECT `+productColumns+` FROM products`+w.sql()+` ORDER BY product_id LIMIT ?`, append(w.args, pg.limit())...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return out, nil
}

// ProductByCode returns the product with this product code; ok is false when
// Concord knows no such product.
func ProductByCode(ctx context.Context, tx *store.Tx, code string) (p marketplace.Product, ok bool, err error) {
	p, err = scanProduct(tx.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE product_code = ?`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	} else if err != nil {
		return p, false, fmt.Errorf("load product %s: %w", code, err)
	}
	return p, true, nil
}

// LoadLicense reads one license row inside tx; ok is false when the ledger has
// no such license.
func LoadLicense(ctx context.Context, tx *store.Tx, licenseID string) (l marketplace.License, ok bool, err error) {
	l, err = scanLicense(tx.QueryRow(ctx, `SELECT `+licenseColumns+` FROM licenses WHERE license_id = ?`, licenseID))
	if errors.Is(err, sql.ErrNoRows) {
		return l, false, nil
	} else if err != nil {
		return l, false, fmt.Errorf("load license %s: %w", licenseID, err)
	}
	return l, true, nil
}

// LoadLicenses reads licenses by id inside tx in one statement; ids it does
// not find are missing from the map. With share on PostgreSQL it also locks
// the rows found (FOR SHARE), in the order of ids, against folds of them.
func LoadLicenses(ctx context.Context, tx *store.Tx, ids []string, share bool) (map[string]marketplace.License, error) {
	out := make(map[string]marketplace.License, len(ids))
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		q := `SELECT ` + licenseColumns + ` FROM licenses WHERE license_id IN (?` + strings.Repeat(", ?", len(part)-1) + `) ORDER BY license_id`
		if share && tx.Dialect() == store.Postgres {
			q += ` FOR SHARE`
		}
		ls, err := store.QueryAll(ctx, tx, scanLicense, q, args...)
		if err != nil {
			return nil, fmt.Errorf("load licenses: %w", err)
		}
		for _, l := range ls {
			out[l.LicenseID] = l
		}
	}
	return out, nil
}

// LoadProduct reads one product inside tx; ok is false when Concord knows no
// such product.
func LoadProduct(ctx context.Context, tx *store.Tx, productID string) (p marketplace.Product, ok bool, err error) {
	p, err = scanProduct(tx.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE product_id = ?`, productID))
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	} else if err != nil {
		return p, false, fmt.Errorf("load product %s: %w", productID, err)
	}
	return p, true, nil
}

// auditProduct records a change of a product's settings in the audit trail
// (a creation has no before).
func auditProduct(ctx context.Context, tx *store.Tx, action string, before any, existed bool, after marketplace.Product) error {
	c := audit.Change{Object: "product", ObjectID: after.ProductID, Action: action, After: after, Summary: "product " + after.ProductID}
	if existed {
		c.Before = before
		c.Summary = "changed " + c.Summary
	} else {
		c.Summary = "created " + c.Summary
	}
	return audit.Record(ctx, tx, c)
}
