package normalize_test

import (
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/internal/normalize"
)

// A route mapping turns a canonical record into HubSpot's contact shape:
// dotted output names build the nested "properties" object.
func ExampleMapper_Apply() {
	m, err := normalize.Compile(normalize.Mapping{Fields: map[string]normalize.Field{
		"properties.email":     {From: "email"},
		"properties.firstname": {From: "first_name"},
		"properties.phone":     {From: "phone", Type: "phone", Region: "GB"},
		"properties.lifecycle": {Default: "lead"},
		"properties.name":      {Expr: `properties.firstname + " " + source.last_name`},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, problems := m.Apply(map[string]any{
		"email": "jane@example.com", "first_name": "Jane", "last_name": "Doe", "phone": "020 7946 0958",
	})
	b, _ := json.Marshal(out)
	fmt.Println(string(b), problems)
	// Output:
	// {"properties":{"email":"jane@example.com","firstname":"Jane","lifecycle":"lead","name":"Jane Doe","phone":"+442079460958"}} []
}

func ExampleCompile() {
	_, err := normalize.Compile(normalize.Mapping{Fields: map[string]normalize.Field{
		"age":       {From: "age", Type: "int"},
		"full_name": {Expr: `first_name + " " + last_name`},
	}})
	fmt.Println(err)
	// Output:
	// fields.age.type: unknown type "int" (want any, string, number, integer, boolean, datetime, date, email, phone, array or object); fields.full_name.expr: unknown name first_name (1:1)
}
