package cwsim

import "slices"

// The product catalog, read through the API and set up by a person.

func init() {
	register("GET /procurement/catalog", (*Sim).listCatalog)
	register("GET /procurement/catalog/count", (*Sim).countCatalog)
	register("GET /procurement/catalog/{id}", (*Sim).getCatalogItem)
}

// maxProductIdentifier is the longest catalog identifier.
const maxProductIdentifier = 75

var catalogConds = newCondSpec(
	"id number", "identifier string", "description string", "customerDescription string",
	"inactiveFlag bool", "price number", "cost number", "lastUpdated=_info/lastUpdated date",
)

func (s *Sim) listCatalog(q *request) response {
	return listRecords(s, q, "catalogItem", catalogConds, false, every(func(st *state) []Product { return st.products }))
}

func (s *Sim) countCatalog(q *request) response {
	return listRecords(s, q, "catalogItem", catalogConds, true, every(func(st *state) []Product { return st.products }))
}

func (s *Sim) getCatalogItem(q *request) response {
	return getRecord(s, q, "Catalog item", func(st *state) []Product { return st.products })
}

// AddProduct adds a catalog item as a person would. The identifier is
// required, at most 75 characters and unique (ignoring case).
func (s *Sim) AddProduct(p Product) (Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var c checker
	if c.required("identifier", p.Identifier) {
		c.maxLen("identifier", p.Identifier, maxProductIdentifier)
		if slices.ContainsFunc(s.st.products, func(o Product) bool { return trimmedEqual(o.Identifier, p.Identifier) }) {
			c.add(codeObjectExists, "identifier", "A product with identifier %q already exists.", p.Identifier)
		}
	}
	if c.errs != nil {
		return Product{}, validationError("catalog item", c.errs)
	}
	p.ID = s.st.nextID("product")
	p.Info = s.newInfo(personIdentifier)
	s.st.products = append(s.st.products, p)
	return p, nil
}

// SetProductInactive sets or clears a catalog item's inactiveFlag.
func (s *Sim) SetProductInactive(id int, inactive bool) error {
	return updateRecord(s, "product", id, func(st *state) []Product { return st.products }, func(p *Product) *Info {
		p.InactiveFlag = inactive
		return &p.Info
	})
}

// Products returns a copy of the catalog.
func (s *Sim) Products() []Product {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.products)
}
