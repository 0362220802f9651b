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
	lq, bad := parseListQuery(q.r, "catalogItem", catalogConds, nil)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	items := listOf(s.st.products)
	s.mu.Unlock()
	return listResponse(q.r, lq, items)
}

func (s *Sim) countCatalog(q *request) response {
	lq, bad := parseListQuery(q.r, "catalogItem", catalogConds, nil)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	items := listOf(s.st.products)
	s.mu.Unlock()
	return countResponse(lq, items)
}

func (s *Sim) getCatalogItem(q *request) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.products, q.ids[0])
	if i < 0 {
		return notFound("Catalog item with id " + itoa(q.ids[0]) + " was not found.")
	}
	return getOne(q.r, s.st.products[i])
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
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.products, id)
	if i < 0 {
		return errNotFound("product", id)
	}
	s.st.products[i].InactiveFlag = inactive
	s.touch(&s.st.products[i].Info, personIdentifier)
	return nil
}

// Products returns a copy of the catalog.
func (s *Sim) Products() []Product {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.products)
}
