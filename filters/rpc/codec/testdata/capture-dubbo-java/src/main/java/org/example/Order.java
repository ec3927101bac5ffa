package org.example;

import java.io.Serializable;
import java.util.List;
import java.util.Map;

/** An argument with nested values, so the captured body carries hessian2 class definitions. */
public class Order implements Serializable {
    private static final long serialVersionUID = 1L;
    public long id;
    public List<String> items;
    public double price;
    public Map<String, String> meta;
}
